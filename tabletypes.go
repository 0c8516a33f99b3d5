package shoal

import (
	"time"

	"github.com/shoalfs/shoal/internal/kvtable"
)

// The KV tables' types. They are the SDK's own (the engine in
// internal/kvtable has twins with the same fields, converted at the
// Table methods), so that this package documents every field a caller
// sets or reads. A field added on one side and not the other fails to
// compile in the conversions below.

// TableOptions are the settings a table is created with.
type TableOptions struct {
	// DefaultTTL, in seconds, is given to every write that would otherwise
	// store a record without expiry (0: none).
	DefaultTTL int
}

// TableInfo describes a table.
type TableInfo struct {
	Name string
	// ID is the table's number in the engine; a table dropped and created
	// again under the same name gets a new one.
	ID uint32
	// DefaultTTL is TableOptions.DefaultTTL, in seconds (0: none).
	DefaultTTL int
	Created    time.Time
}

// KV is one record of a hash key: a sort key and its value.
type KV struct {
	SortKey []byte
	Value   []byte
}

// Key names one record.
type Key struct {
	HashKey []byte
	SortKey []byte
}

// FilterType selects how a Filter matches a key. The values are
// Pegasus's filter_type (FT_NO_FILTER ... FT_MATCH_POSTFIX).
type FilterType int

// Filter types.
const (
	FilterNone          FilterType = 0 // every key
	FilterMatchAnywhere FilterType = 1 // keys containing Pattern
	FilterMatchPrefix   FilterType = 2 // keys starting with Pattern
	FilterMatchPostfix  FilterType = 3 // keys ending with Pattern
)

// Filter selects keys by a pattern. The zero value matches everything, as
// does any filter with an empty pattern.
type Filter struct {
	Type    FilterType
	Pattern []byte
}

// CheckType is the condition of CheckAndSet and CheckAndMutate, checked
// against the record at the check sort key. The values are Pegasus's
// cas_check_type (CT_NO_CHECK ... CT_VALUE_INT_GREATER).
type CheckType int

// Check types. "Value" is the checked record's value and "operand" the
// check operand; the Bytes checks compare bytewise, the Int checks parse
// both as decimal int64 (an operand or a stored value that does not parse
// fails the call).
const (
	CheckNoCheck              CheckType = 0 // always passes
	CheckValueNotExist        CheckType = 1 // no live record
	CheckValueNotExistOrEmpty CheckType = 2 // no live record, or an empty value
	CheckValueExist           CheckType = 3 // a live record
	CheckValueNotEmpty        CheckType = 4 // a live record with a non-empty value
	CheckMatchAnywhere        CheckType = 5 // operand occurs in value
	CheckMatchPrefix          CheckType = 6 // value starts with operand
	CheckMatchPostfix         CheckType = 7 // value ends with operand
	CheckBytesLess            CheckType = 8 // value < operand
	CheckBytesLessOrEqual     CheckType = 9
	CheckBytesEqual           CheckType = 10
	CheckBytesGreaterOrEqual  CheckType = 11
	CheckBytesGreater         CheckType = 12
	CheckIntLess              CheckType = 13
	CheckIntLessOrEqual       CheckType = 14
	CheckIntEqual             CheckType = 15
	CheckIntGreaterOrEqual    CheckType = 16
	CheckIntGreater           CheckType = 17
)

// MutateOp is the kind of a Mutation (Pegasus's mutate_operation values).
type MutateOp int

// Mutation kinds.
const (
	MutateSet MutateOp = 0
	MutateDel MutateOp = 1
)

// Mutation is one write of CheckAndMutate.
type Mutation struct {
	Op      MutateOp
	SortKey []byte
	Value   []byte // MutateSet only
	TTL     int    // MutateSet only: seconds, 0 for the table's default
}

// MultiGetOptions select records of one hash key by sort-key range. The
// zero value is not Pegasus's default (which includes the start key); use
// DefaultMultiGetOptions.
type MultiGetOptions struct {
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
	// NoValue returns sort keys with nil values.
	NoValue bool
	// Reverse takes records from the stop end, so the limits keep the
	// last ones; the result is still in ascending order (as Pegasus).
	Reverse bool
	// MaxKVCount and MaxKVSize bound the records and the bytes (sort key +
	// value) returned; <= 0 means no limit.
	MaxKVCount int
	MaxKVSize  int
}

// DelRangeOptions select the records DelRange deletes. The zero value
// excludes the start key; use DefaultDelRangeOptions for Pegasus's
// default.
type DelRangeOptions struct {
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
}

// ScanOptions configure a Scanner. The zero value is not Pegasus's
// default (which includes the start key); use DefaultScanOptions.
type ScanOptions struct {
	// BatchSize is how many records one batch reads (<= 0: 1,000).
	BatchSize      int
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
	// HashKeyFilter selects hash keys (it matters to
	// GetUnorderedScanners, whose scanners cross hash keys).
	HashKeyFilter Filter
	// NoValue returns nil values.
	NoValue bool
}

// CheckAndSetOptions are the options of CheckAndSet.
type CheckAndSetOptions struct {
	// SetValueTTL is the TTL in seconds of the value set (0: the table's
	// default TTL, none if it has none).
	SetValueTTL int
	// ReturnCheckValue returns the checked record's value in the result.
	ReturnCheckValue bool
}

// CheckAndSetResult is the outcome of CheckAndSet. A failed check is not
// an error: SetSucceed is false.
type CheckAndSetResult struct {
	SetSucceed bool
	// CheckValueReturned is set when CheckAndSetOptions.ReturnCheckValue
	// asked for the checked record; CheckValueExist and CheckValue then
	// describe it.
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
}

// CheckAndMutateOptions are the options of CheckAndMutate.
type CheckAndMutateOptions struct {
	// ReturnCheckValue returns the checked record's value in the result.
	ReturnCheckValue bool
}

// CheckAndMutateResult is the outcome of CheckAndMutate. A failed check
// is not an error: MutateSucceed is false.
type CheckAndMutateResult struct {
	MutateSucceed bool
	// CheckValueReturned, CheckValueExist and CheckValue are as in
	// CheckAndSetResult.
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
}

// CompareExchangeResult is the outcome of CompareExchange.
type CompareExchangeResult struct {
	SetSucceed bool
	// ActualValue and ActualExist describe the record when the exchange
	// failed (ActualExist false: there was no record).
	ActualValue []byte
	ActualExist bool
}

// GetResult is one item of BatchGet: the record's value and whether it
// was found, or Err when that key alone failed (an invalid key).
type GetResult struct {
	Value []byte
	Found bool
	Err   error
}

// SetItem is one item of BatchSet. TTL is in seconds (0: the table's
// default).
type SetItem struct {
	HashKey, SortKey, Value []byte
	TTL                     int
}

// Conversions to and from the engine's twins. Structs whose fields are
// all of unnamed or shared types convert directly; those holding a
// Filter or an enum are converted field by field.

func (f Filter) engine() kvtable.Filter {
	return kvtable.Filter{Type: kvtable.FilterType(f.Type), Pattern: f.Pattern}
}

func (o MultiGetOptions) engine() kvtable.MultiGetOptions {
	return kvtable.MultiGetOptions{
		StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: o.SortKeyFilter.engine(), NoValue: o.NoValue, Reverse: o.Reverse,
		MaxKVCount: o.MaxKVCount, MaxKVSize: o.MaxKVSize,
	}
}

func (o DelRangeOptions) engine() kvtable.DelRangeOptions {
	return kvtable.DelRangeOptions{
		StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: o.SortKeyFilter.engine(),
	}
}

func (o ScanOptions) engine() kvtable.ScanOptions {
	return kvtable.ScanOptions{
		BatchSize: o.BatchSize, StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: o.SortKeyFilter.engine(), HashKeyFilter: o.HashKeyFilter.engine(), NoValue: o.NoValue,
	}
}

func filterOf(f kvtable.Filter) Filter { return Filter{Type: FilterType(f.Type), Pattern: f.Pattern} }

func multiGetOptionsOf(o kvtable.MultiGetOptions) MultiGetOptions {
	return MultiGetOptions{
		StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: filterOf(o.SortKeyFilter), NoValue: o.NoValue, Reverse: o.Reverse,
		MaxKVCount: o.MaxKVCount, MaxKVSize: o.MaxKVSize,
	}
}

func delRangeOptionsOf(o kvtable.DelRangeOptions) DelRangeOptions {
	return DelRangeOptions{StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive, SortKeyFilter: filterOf(o.SortKeyFilter)}
}

func scanOptionsOf(o kvtable.ScanOptions) ScanOptions {
	return ScanOptions{
		BatchSize: o.BatchSize, StartInclusive: o.StartInclusive, StopInclusive: o.StopInclusive,
		SortKeyFilter: filterOf(o.SortKeyFilter), HashKeyFilter: filterOf(o.HashKeyFilter), NoValue: o.NoValue,
	}
}

// convertSlice converts each element of in with f; nil stays nil.
func convertSlice[A, B any](in []A, f func(A) B) []B {
	if in == nil {
		return nil
	}
	out := make([]B, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func kvEngine(k KV) kvtable.KV                   { return kvtable.KV(k) }
func kvOf(k kvtable.KV) KV                       { return KV(k) }
func keyEngine(k Key) kvtable.Key                { return kvtable.Key(k) }
func setItemEngine(s SetItem) kvtable.SetItem    { return kvtable.SetItem(s) }
func getResultOf(r kvtable.GetResult) GetResult  { return GetResult(r) }
func tableInfoOf(ti kvtable.TableInfo) TableInfo { return TableInfo(ti) }

func mutationEngine(m Mutation) kvtable.Mutation {
	return kvtable.Mutation{Op: kvtable.MutateOp(m.Op), SortKey: m.SortKey, Value: m.Value, TTL: m.TTL}
}
