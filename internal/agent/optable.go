package agent

import (
	"context"
	"errors"
	"strconv"
	"syscall"

	shoal "github.com/shoalfs/shoal"
	"github.com/shoalfs/shoal/internal/fserr"
)

// The dispatcher is a table: one handler per opcode, registered below
// under the opcode's name. The names and numbers are also listed in
// testdata/opcodes.txt, which the Go tests (against the Op constants and
// this table) and the Python tests (against python/src/shoal/_wire.py)
// both check, so the three cannot drift apart.

// req is one request as a handler sees it. A connection runs one request
// at a time, so a conn holds one req and reuses it.
type req struct {
	c   *conn
	ctx context.Context // the request's: cancelled by its timeout or its connection's end
	d   *dec            // the arguments
	e   *enc            // the response being built (c.out)
	// s and cl are set for opcodes that need a session: s is the
	// caller's session, cl its shared client bound to ctx (path
	// requests); handles are opened under the session instead (see
	// session.cl).
	s  *session
	cl *shoal.Client
	// path is what the request names (a path, a handle's path, a KV
	// table), set by the handler as it decodes; an error that does not
	// carry its own path is reported with it.
	path string
	// For metrics and the request log (observe.go): bytes the request
	// moved through shared memory, and an OPEN that may create or
	// truncate.
	shmIn, shmOut int64
	mutates       bool
}

// pathArg decodes a path argument and records it for errors.
func (r *req) pathArg() string {
	p := r.d.str()
	if r.path == "" {
		r.path = p
	}
	return p
}

// file returns the open file of handle h and records its path.
func (r *req) file(h int64) (*shoal.File, error) {
	r.s.mu.Lock()
	of, ok := r.s.files[h]
	r.s.mu.Unlock()
	if !ok {
		return nil, syscall.EBADF
	}
	r.path = of.path
	return of.f, nil
}

// handler runs one opcode: it decodes its arguments from r.d (checking
// r.d.err once, after the last), calls the SDK and appends its results to
// r.e. A returned error becomes the error response.
type handler func(r *req) error

// opSpec is one row of the table.
type opSpec struct {
	name string // as in testdata/opcodes.txt; errors name the operation with it
	// sessionless opcodes run before a session exists (PING, BUILD,
	// ATTACH); every other needs one and fails with ENOTCONN without.
	sessionless bool
	fn          handler
}

// opTable is indexed by opcode; a zero row is an unknown opcode (ENOSYS).
var opTable = [...]opSpec{
	OpPing:        {name: "ping", sessionless: true, fn: func(*req) error { return nil }},
	OpBuild:       {name: "build", sessionless: true, fn: opBuild},
	OpAttach:      {name: "attach", sessionless: true, fn: opAttach},
	OpStop:        {name: "stop", fn: opStop},
	OpSetOpt:      {name: "setopt", fn: opSetOpt},
	OpStatFS:      {name: "statfs", fn: opStatFS},
	OpStat:        {name: "stat", fn: opStat},
	OpSetAttr:     {name: "setattr", fn: opSetAttr},
	OpMkdir:       {name: "mkdir", fn: opMkdir},
	OpRmdir:       {name: "rmdir", fn: opRmdir},
	OpUnlink:      {name: "unlink", fn: opUnlink},
	OpRemove:      {name: "remove", fn: opRemove},
	OpRename:      {name: "rename", fn: opRename},
	OpLink:        {name: "link", fn: opLink},
	OpSymlink:     {name: "symlink", fn: opSymlink},
	OpReadlink:    {name: "readlink", fn: opReadlink},
	OpRealpath:    {name: "realpath", fn: opRealpath},
	OpMknod:       {name: "mknod", fn: opMknod},
	OpSetXattr:    {name: "setxattr", fn: opSetXattr},
	OpGetXattr:    {name: "getxattr", fn: opGetXattr},
	OpListXattr:   {name: "listxattr", fn: opListXattr},
	OpRemoveXattr: {name: "removexattr", fn: opRemoveXattr},
	OpListDir:     {name: "listdir", fn: opListDir},
	OpOpenDir:     {name: "opendir", fn: opOpenDir},
	OpReadDir:     {name: "readdir", fn: opReadDir},
	OpCloseDir:    {name: "closedir", fn: opCloseDir},
	OpOpen:        {name: "open", fn: opOpen},
	OpClose:       {name: "close", fn: opClose},
	OpPread:       {name: "pread", fn: opPread},
	OpPwrite:      {name: "pwrite", fn: opPwrite},
	OpPreadIov:    {name: "pread_iov", fn: opPreadIov},
	OpPwriteIov:   {name: "pwrite_iov", fn: opPwriteIov},
	OpFstat:       {name: "fstat", fn: opFstat},
	OpFtruncate:   {name: "ftruncate", fn: opFtruncate},
	OpFsync:       {name: "fsync", fn: opFsync},
	OpIovReg:      {name: "iovreg", fn: opIovReg},
	OpIovUnreg:    {name: "iovunreg", fn: opIovUnreg},
	OpPreadv:      {name: "preadv", fn: func(r *req) error { return r.batch(false) }},
	OpPwritev:     {name: "pwritev", fn: func(r *req) error { return r.batch(true) }},
	OpShareFH:     {name: "sharefh", fn: opShareFH},
	OpOpenFH:      {name: "openfh", fn: opOpenFH},
	OpCopy:        {name: "copy", fn: opCopy},
	OpWriteFile:   {name: "writefile", fn: opWriteFile},
	OpReadFile:    {name: "readfile", fn: opReadFile},
	OpStats:       {name: "stats", fn: opStats},
	OpSDKBench:    {name: "sdkbench", fn: opSDKBench},

	OpKVCreateTable:       {name: "kv_create_table", fn: opKVCreateTable},
	OpKVDropTable:         {name: "kv_drop_table", fn: opKVDropTable},
	OpKVListTables:        {name: "kv_list_tables", fn: opKVListTables},
	OpKVDescribeTable:     {name: "kv_describe_table", fn: opKVDescribeTable},
	OpKVSet:               {name: "kv_set", fn: opKVSet},
	OpKVGet:               {name: "kv_get", fn: opKVGet},
	OpKVExist:             {name: "kv_exist", fn: opKVExist},
	OpKVTTL:               {name: "kv_ttl", fn: opKVTTL},
	OpKVRemove:            {name: "kv_remove", fn: opKVRemove},
	OpKVIncr:              {name: "kv_incr", fn: opKVIncr},
	OpKVMultiSet:          {name: "kv_multi_set", fn: opKVMultiSet},
	OpKVMultiGet:          {name: "kv_multi_get", fn: opKVMultiGet},
	OpKVMultiGetOpt:       {name: "kv_multi_get_opt", fn: opKVMultiGetOpt},
	OpKVMultiDel:          {name: "kv_multi_del", fn: opKVMultiDel},
	OpKVDelRange:          {name: "kv_del_range", fn: opKVDelRange},
	OpKVSortKeyCount:      {name: "kv_sort_key_count", fn: opKVSortKeyCount},
	OpKVGetSortKeys:       {name: "kv_get_sort_keys", fn: opKVGetSortKeys},
	OpKVCheckAndSet:       {name: "kv_check_and_set", fn: opKVCheckAndSet},
	OpKVCheckAndMutate:    {name: "kv_check_and_mutate", fn: opKVCheckAndMutate},
	OpKVCompareExchange:   {name: "kv_compare_exchange", fn: opKVCompareExchange},
	OpKVBatchGet:          {name: "kv_batch_get", fn: opKVBatchGet},
	OpKVBatchSet:          {name: "kv_batch_set", fn: opKVBatchSet},
	OpKVBatchDel:          {name: "kv_batch_del", fn: opKVBatchDel},
	OpKVGetScanner:        {name: "kv_get_scanner", fn: opKVGetScanner},
	OpKVUnorderedScanners: {name: "kv_unordered_scanners", fn: opKVUnorderedScanners},
	OpKVNext:              {name: "kv_next", fn: opKVNext},
	OpKVCloseScanner:      {name: "kv_close_scanner", fn: opKVCloseScanner},
	OpLoadSubmit:          {name: "load_submit", fn: opLoadSubmit},
	OpLoadProgress:        {name: "load_progress", fn: opLoadProgress},
	OpLoadStop:            {name: "load_stop", fn: opLoadStop},
}

// lookupOp returns the row of op, or nil for an unknown opcode.
func lookupOp(op uint16) *opSpec {
	if int(op) < len(opTable) && opTable[op].fn != nil {
		return &opTable[op]
	}
	return nil
}

// dispatch runs one request and leaves its response in c.out. It is the
// one place every request passes, so it reports what observe needs.
func (c *conn) dispatch(ctx context.Context, op uint16, d *dec) result {
	spec := lookupOp(op)
	r := &c.req
	*r = req{c: c, ctx: ctx, d: d, e: &c.out}
	var err error
	switch {
	case spec != nil && spec.sessionless:
		err = spec.fn(r)
	case c.sess == nil:
		err = syscall.ENOTCONN
	case spec == nil:
		err = syscall.ENOSYS
	default:
		s := c.sess
		s.mu.Lock()
		timeout := s.timeout
		s.mu.Unlock()
		// The timeout bounds this request's path operations; handles run
		// under the session (session.cl) and are never bounded by it.
		if timeout > 0 {
			var cancel context.CancelFunc
			r.ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		r.s, r.cl = s, s.ce.c.WithContext(r.ctx)
		err = spec.fn(r)
	}
	if err != nil {
		name := "op " + strconv.Itoa(int(op))
		if spec != nil {
			name = spec.name
		}
		err = opError(name, r.path, err)
		c.out.fail(errnoOf(err), err.Error(), pathOf(err))
	}
	res := result{spec: spec, err: err, mutates: r.mutates, path: r.path, shmIn: r.shmIn, shmOut: r.shmOut}
	*r = req{} // drop references until the next request
	return res
}

// opError makes every error answered to a caller name its operation and
// path, as errors at the other edges do. An *Error from the SDK already
// names the SDK method and path and is answered as it is; anything else
// (a handle that is not open, a bad argument, a cancelled request) is
// wrapped in one that names the opcode and what the request named. The
// wrapper's Kind is Other, so the errno is still the cause's.
func opError(op, path string, err error) error {
	var e *shoal.Error
	if errors.As(err, &e) {
		return err
	}
	return &shoal.Error{Op: op, Path: path, Err: err}
}

// errnoOf is the errno a caller sees for err: fserr's one translation,
// the same FUSE uses (so a cancelled request is EINTR, a deadline
// ETIMEDOUT, an unclassified failure EIO).
func errnoOf(err error) int32 { return int32(fserr.Errno(err)) }

func pathOf(err error) string {
	var e *shoal.Error
	if errors.As(err, &e) {
		return e.Path
	}
	return ""
}
