package shoal

import (
	"reflect"
	"testing"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/kvtable"
	"github.com/shoalfs/shoal/internal/meta"
)

// TestPublicConstants: the SDK spells its constants as numbers, so go doc
// shows them; each must equal the internal value it stands for.
func TestPublicConstants(t *testing.T) {
	eq := func(name string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %#x, the internal value is %#x", name, got, want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"SetAttrMode", uint32(SetAttrMode), meta.SetMode},
		{"SetAttrUid", uint32(SetAttrUid), meta.SetUid},
		{"SetAttrGid", uint32(SetAttrGid), meta.SetGid},
		{"SetAttrSize", uint32(SetAttrSize), meta.SetSize},
		{"SetAttrAtime", uint32(SetAttrAtime), meta.SetAtime},
		{"SetAttrMtime", uint32(SetAttrMtime), meta.SetMtime},
		{"SetAttrAtimeNow", uint32(SetAttrAtimeNow), meta.SetAtimeNow},
		{"SetAttrMtimeNow", uint32(SetAttrMtimeNow), meta.SetMtimeNow},
		{"SetAttrCtime", uint32(SetAttrCtime), meta.SetCtime},
		{"SetAttrFlags", uint32(SetAttrFlags), meta.SetFlags},
		{"FlagImmutable", FlagImmutable, meta.FlagImmutable},
		{"FlagAppend", FlagAppend, meta.FlagAppend},
		{"RenameNoReplace", uint32(RenameNoReplace), meta.RenameNoReplace},
		{"RenameExchange", uint32(RenameExchange), meta.RenameExchange},
		{"XattrCreate", XattrCreate, meta.XattrCreate},
		{"XattrReplace", XattrReplace, meta.XattrReplace},
	} {
		eq(c.name, int64(c.got), int64(c.want))
	}
	for _, c := range []struct {
		name      string
		got, want Kind
	}{
		{"KindOther", KindOther, fserr.Other}, {"KindNotExist", KindNotExist, fserr.NotExist},
		{"KindExist", KindExist, fserr.Exist}, {"KindNotDir", KindNotDir, fserr.NotDir},
		{"KindIsDir", KindIsDir, fserr.IsDir}, {"KindNotEmpty", KindNotEmpty, fserr.NotEmpty},
		{"KindPermission", KindPermission, fserr.Permission}, {"KindNotPermitted", KindNotPermitted, fserr.NotPermitted},
		{"KindInvalid", KindInvalid, fserr.Invalid}, {"KindNameTooLong", KindNameTooLong, fserr.NameTooLong},
		{"KindNoData", KindNoData, fserr.NoData}, {"KindRange", KindRange, fserr.Range},
		{"KindIO", KindIO, fserr.IO}, {"KindCorrupt", KindCorrupt, fserr.Corrupt},
		{"KindBusy", KindBusy, fserr.Busy}, {"KindTooBig", KindTooBig, fserr.TooBig},
		{"KindNoSpace", KindNoSpace, fserr.NoSpace}, {"KindLoop", KindLoop, fserr.Loop},
		{"KindCrossDevice", KindCrossDevice, fserr.CrossDevice}, {"KindReadOnly", KindReadOnly, fserr.ReadOnly},
		{"KindBadHandle", KindBadHandle, fserr.BadHandle}, {"KindNotSupported", KindNotSupported, fserr.NotSupported},
		{"KindTooManyLinks", KindTooManyLinks, fserr.TooManyLinks}, {"KindClosed", KindClosed, fserr.Closed},
		{"KindConflict", KindConflict, fserr.Conflict}, {"KindTextBusy", KindTextBusy, fserr.TextBusy},
		{"KindNotFound", KindNotFound, fserr.NotFound}, {"KindArgTooBig", KindArgTooBig, fserr.ArgTooBig},
	} {
		eq(c.name, int64(c.got), int64(c.want))
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"FilterNone", int(FilterNone), int(kvtable.FilterNone)},
		{"FilterMatchAnywhere", int(FilterMatchAnywhere), int(kvtable.FilterMatchAnywhere)},
		{"FilterMatchPrefix", int(FilterMatchPrefix), int(kvtable.FilterMatchPrefix)},
		{"FilterMatchPostfix", int(FilterMatchPostfix), int(kvtable.FilterMatchPostfix)},
		{"CheckNoCheck", int(CheckNoCheck), int(kvtable.CheckNoCheck)},
		{"CheckValueNotExist", int(CheckValueNotExist), int(kvtable.CheckValueNotExist)},
		{"CheckValueNotExistOrEmpty", int(CheckValueNotExistOrEmpty), int(kvtable.CheckValueNotExistOrEmpty)},
		{"CheckValueExist", int(CheckValueExist), int(kvtable.CheckValueExist)},
		{"CheckValueNotEmpty", int(CheckValueNotEmpty), int(kvtable.CheckValueNotEmpty)},
		{"CheckMatchAnywhere", int(CheckMatchAnywhere), int(kvtable.CheckMatchAnywhere)},
		{"CheckMatchPrefix", int(CheckMatchPrefix), int(kvtable.CheckMatchPrefix)},
		{"CheckMatchPostfix", int(CheckMatchPostfix), int(kvtable.CheckMatchPostfix)},
		{"CheckBytesLess", int(CheckBytesLess), int(kvtable.CheckBytesLess)},
		{"CheckBytesLessOrEqual", int(CheckBytesLessOrEqual), int(kvtable.CheckBytesLessOrEqual)},
		{"CheckBytesEqual", int(CheckBytesEqual), int(kvtable.CheckBytesEqual)},
		{"CheckBytesGreaterOrEqual", int(CheckBytesGreaterOrEqual), int(kvtable.CheckBytesGreaterOrEqual)},
		{"CheckBytesGreater", int(CheckBytesGreater), int(kvtable.CheckBytesGreater)},
		{"CheckIntLess", int(CheckIntLess), int(kvtable.CheckIntLess)},
		{"CheckIntLessOrEqual", int(CheckIntLessOrEqual), int(kvtable.CheckIntLessOrEqual)},
		{"CheckIntEqual", int(CheckIntEqual), int(kvtable.CheckIntEqual)},
		{"CheckIntGreaterOrEqual", int(CheckIntGreaterOrEqual), int(kvtable.CheckIntGreaterOrEqual)},
		{"CheckIntGreater", int(CheckIntGreater), int(kvtable.CheckIntGreater)},
		{"MutateSet", int(MutateSet), int(kvtable.MutateSet)},
		{"MutateDel", int(MutateDel), int(kvtable.MutateDel)},
	} {
		eq(c.name, int64(c.got), int64(c.want))
	}
}

// TestTableOptionConversions: an option value survives the trip to the
// engine's type and back, every field included.
func TestTableOptionConversions(t *testing.T) {
	f := Filter{Type: FilterMatchPrefix, Pattern: []byte("p")}
	mg := MultiGetOptions{StartInclusive: true, StopInclusive: true, SortKeyFilter: f, NoValue: true, Reverse: true, MaxKVCount: 3, MaxKVSize: 4}
	if got := multiGetOptionsOf(mg.engine()); !reflect.DeepEqual(got, mg) {
		t.Errorf("MultiGetOptions: %+v became %+v", mg, got)
	}
	so := ScanOptions{BatchSize: 5, StartInclusive: true, StopInclusive: true, SortKeyFilter: f, HashKeyFilter: Filter{Type: FilterMatchPostfix, Pattern: []byte("q")}, NoValue: true}
	if got := scanOptionsOf(so.engine()); !reflect.DeepEqual(got, so) {
		t.Errorf("ScanOptions: %+v became %+v", so, got)
	}
	dr := DelRangeOptions{StartInclusive: true, StopInclusive: true, SortKeyFilter: f}
	if got := delRangeOptionsOf(dr.engine()); !reflect.DeepEqual(got, dr) {
		t.Errorf("DelRangeOptions: %+v became %+v", dr, got)
	}
	m := Mutation{Op: MutateDel, SortKey: []byte("s"), Value: []byte("v"), TTL: 9}
	if got := mutationEngine(m); got.Op != kvtable.MutateDel || string(got.SortKey) != "s" || string(got.Value) != "v" || got.TTL != 9 {
		t.Errorf("Mutation: %+v became %+v", m, got)
	}
	if d := DefaultMultiGetOptions(); !d.StartInclusive || d.MaxKVCount != 100 || d.MaxKVSize != 1000000 {
		t.Errorf("DefaultMultiGetOptions %+v", d)
	}
}
