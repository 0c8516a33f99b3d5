package kvtable

import (
	"bytes"
	"fmt"
	"strconv"
)

// FilterType selects how a Filter matches a key. The values are
// Pegasus's filter_type (FT_NO_FILTER ... FT_MATCH_POSTFIX).
type FilterType int

// Filter types.
const (
	FilterNone          FilterType = 0
	FilterMatchAnywhere FilterType = 1
	FilterMatchPrefix   FilterType = 2
	FilterMatchPostfix  FilterType = 3
)

// Filter selects keys by a pattern. The zero value matches everything, as
// does any filter with an empty pattern.
type Filter struct {
	Type    FilterType
	Pattern []byte
}

func (f Filter) valid() error {
	if f.Type < FilterNone || f.Type > FilterMatchPostfix {
		return fmt.Errorf("unknown filter type %d", f.Type)
	}
	return nil
}

func (f Filter) match(b []byte) bool {
	switch f.Type {
	case FilterMatchAnywhere:
		return bytes.Contains(b, f.Pattern)
	case FilterMatchPrefix:
		return bytes.HasPrefix(b, f.Pattern)
	case FilterMatchPostfix:
		return bytes.HasSuffix(b, f.Pattern)
	}
	return true
}

// CheckType is the condition of CheckAndSet and CheckAndMutate. The
// values are Pegasus's cas_check_type (CT_NO_CHECK ... CT_VALUE_INT_GREATER),
// so they can cross the wire unchanged.
type CheckType int

// Check types. Every check but CheckNoCheck, CheckValueNotExist and
// CheckValueNotExistOrEmpty fails when the checked record does not exist.
// The compare checks compare the stored value (left) with the operand
// (right): CheckBytesLess passes when value < operand.
const (
	CheckNoCheck              CheckType = 0
	CheckValueNotExist        CheckType = 1
	CheckValueNotExistOrEmpty CheckType = 2
	CheckValueExist           CheckType = 3
	CheckValueNotEmpty        CheckType = 4
	CheckMatchAnywhere        CheckType = 5 // operand occurs in value
	CheckMatchPrefix          CheckType = 6
	CheckMatchPostfix         CheckType = 7
	CheckBytesLess            CheckType = 8
	CheckBytesLessOrEqual     CheckType = 9
	CheckBytesEqual           CheckType = 10
	CheckBytesGreaterOrEqual  CheckType = 11
	CheckBytesGreater         CheckType = 12
	CheckIntLess              CheckType = 13 // value and operand as decimal int64
	CheckIntLessOrEqual       CheckType = 14
	CheckIntEqual             CheckType = 15
	CheckIntGreaterOrEqual    CheckType = 16
	CheckIntGreater           CheckType = 17
)

func (c CheckType) isInt() bool { return c >= CheckIntLess && c <= CheckIntGreater }

// validate rejects unknown types and, for the int compares, an operand
// that is not an integer (checked up front, so the error does not depend
// on whether the record exists).
func (c CheckType) validate(operand []byte) error {
	if c < CheckNoCheck || c > CheckIntGreater {
		return fmt.Errorf("unknown check type %d", c)
	}
	if c.isInt() {
		if _, err := parseInt(operand); err != nil {
			return fmt.Errorf("check operand %q is not an integer", operand)
		}
	}
	return nil
}

// eval runs the check against the record's current state. The only error
// is a stored value that an int compare cannot read as an integer.
func (c CheckType) eval(exists bool, value, operand []byte) (bool, error) {
	switch c {
	case CheckNoCheck:
		return true, nil
	case CheckValueNotExist:
		return !exists, nil
	case CheckValueNotExistOrEmpty:
		return !exists || len(value) == 0, nil
	}
	if !exists {
		return false, nil
	}
	switch c {
	case CheckValueExist:
		return true, nil
	case CheckValueNotEmpty:
		return len(value) > 0, nil
	case CheckMatchAnywhere:
		return bytes.Contains(value, operand), nil
	case CheckMatchPrefix:
		return bytes.HasPrefix(value, operand), nil
	case CheckMatchPostfix:
		return bytes.HasSuffix(value, operand), nil
	}
	var cmp int
	if c.isInt() {
		v, err := parseInt(value)
		if err != nil {
			return false, fmt.Errorf("stored value %q is not an integer", value)
		}
		o, _ := parseInt(operand)
		cmp = compareInt(v, o)
		c -= CheckIntLess - CheckBytesLess
	} else {
		cmp = bytes.Compare(value, operand)
	}
	switch c {
	case CheckBytesLess:
		return cmp < 0, nil
	case CheckBytesLessOrEqual:
		return cmp <= 0, nil
	case CheckBytesEqual:
		return cmp == 0, nil
	case CheckBytesGreaterOrEqual:
		return cmp >= 0, nil
	default: // CheckBytesGreater
		return cmp > 0, nil
	}
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseInt reads a decimal int64 the way Pegasus's buf2int64 does: the
// whole buffer, no spaces, an optional sign.
func parseInt(b []byte) (int64, error) {
	return strconv.ParseInt(string(b), 10, 64)
}
