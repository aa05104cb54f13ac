package protocol

import (
	"cmp"
	"reflect"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// CountErrors counts the non-zero Kafka error codes in resp, as RequestEvent.Errors does: how
// many places carried each code (a per-partition code counts once per partition, a per-group
// code once per group, a top-level code once), in ascending order of code. It returns the
// counts in dst's storage (dst[:0], grown as needed), and none for a nil response or one
// where every code is NONE.
//
// It works for every kmsg response: responses of the APIs a Handler serves are walked directly, any other one by reflection, counting every int16 field named ErrorCode
// at any depth. A gateway that answers other APIs itself uses it to report them to its
// Observer in the Handler's shape.
func CountErrors(dst []ErrorCount, resp kmsg.Response) []ErrorCount {
	ec := errorCounter(dst[:0])
	if resp != nil {
		if count := countFunc(resp.Key()); count != nil {
			count(resp, &ec)
		} else {
			ec.walk(reflect.ValueOf(resp))
		}
	}
	if len(ec) > 1 {
		slices.SortFunc(ec, func(a, b ErrorCount) int { return cmp.Compare(a.Code, b.Code) })
	}
	return ec
}

// walk adds every int16 field named ErrorCode in v, through pointers, structs and slices.
func (ec *errorCounter) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			ec.walk(v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
				ec.add(int16(v.Field(i).Int()))
				continue
			}
			ec.walk(v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		switch v.Type().Elem().Kind() {
		case reflect.Struct, reflect.Pointer:
			for i := range v.Len() {
				ec.walk(v.Index(i))
			}
		}
	}
}

// countFunc returns the error counter of the API of key in the dispatch table, nil for an
// API the table does not have.
func countFunc(key int16) func(kmsg.Response, *errorCounter) {
	for _, a := range apiTable() {
		if a.key.Int16() == key {
			return a.countErrors
		}
	}
	return nil
}
