package notifications

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/jsonvalue"
)

// maxMetadataErrors bounds the metadata fields one ValidationError names;
// 64 KiB of NULs would otherwise name thousands.
const maxMetadataErrors = 10

// validateMetadata adds to verr every metadata value that SQLite and
// PostgreSQL would not store alike, named by its path
// ("payload.metadata.a[2].b"), then checks the encoded size. The rules are
// SendOptions.Validate's.
func validateMetadata(verr *ValidationError, m map[string]any) {
	if m == nil {
		return
	}
	var w metadataWalker
	w.object("payload.metadata", m, 1)
	if len(w.errs) > 0 {
		slices.SortStableFunc(w.errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		if extra := len(w.errs) - maxMetadataErrors; extra > 0 {
			w.errs = append(w.errs[:maxMetadataErrors], FieldError{Field: "payload.metadata", Message: fmt.Sprintf("has %d more bad values", extra)})
		}
		verr.Fields = append(verr.Fields, w.errs...)
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		verr.add("payload.metadata", "is not encodable as JSON: "+err.Error())
		return
	}
	if len(b) > MaxMetadataBytes {
		verr.add("payload.metadata", fmt.Sprintf("is %d bytes encoded, more than %d", len(b), MaxMetadataBytes))
	}
}

type metadataWalker struct {
	errs []FieldError
}

func (w *metadataWalker) add(path, message string) {
	w.errs = append(w.errs, FieldError{Field: path, Message: message})
}

// value checks v, found at path inside depth objects and arrays. The
// types encoding/json and jsonvalue decode to are checked directly; other
// Go types by reflection, and those with their own JSON or text encoding
// in that encoded form.
func (w *metadataWalker) value(path string, v any, depth int) {
	switch v := v.(type) {
	case nil, bool, int, int64, int32, uint, uint64, uint32:
	case string:
		if p := textProblem(v); p != "" {
			w.add(path, p)
		}
	case json.Number:
		if p := numberProblem(string(v)); p != "" {
			w.add(path, p)
		}
	case float64:
		w.float(path, v)
	case map[string]any:
		w.object(path, v, depth+1)
	case []any:
		if w.nest(path, depth+1) {
			for i, item := range v {
				w.value(path+"["+strconv.Itoa(i)+"]", item, depth+1)
			}
		}
	case json.Marshaler, encoding.TextMarshaler:
		w.encoded(path, v, depth)
	default:
		w.reflected(path, reflect.ValueOf(v), depth)
	}
}

func (w *metadataWalker) float(path string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.add(path, "is NaN or infinite, which JSON cannot hold")
	}
}

// nest reports whether a container at level may be walked, and names it
// when it is too deep.
func (w *metadataWalker) nest(path string, level int) bool {
	if level > MaxMetadataDepth {
		w.add(path, fmt.Sprintf("nests objects and arrays deeper than %d levels", MaxMetadataDepth))
		return false
	}
	return true
}

func (w *metadataWalker) object(path string, m map[string]any, level int) {
	if !w.nest(path, level) {
		return
	}
	for k, v := range m {
		kp := keyPath(path, k)
		if p := textProblem(k); p != "" {
			w.add(kp, "key "+p)
		}
		w.value(kp, v, level)
	}
}

// reflected walks typed containers ([]string, map[string]int, pointers)
// and scalars of named types, as encoding/json would encode them.
func (w *metadataWalker) reflected(path string, rv reflect.Value, depth int) {
	switch rv.Kind() {
	case reflect.Invalid, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
	case reflect.String:
		w.value(path, rv.String(), depth)
	case reflect.Float32, reflect.Float64:
		w.float(path, rv.Float())
	case reflect.Pointer, reflect.Interface:
		for hops := 0; rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface; hops++ {
			if rv.IsNil() {
				return
			}
			if hops == MaxMetadataDepth {
				w.encoded(path, rv.Interface(), depth) // a cycle of pointers: encoding/json reports it
				return
			}
			rv = rv.Elem()
		}
		w.value(path, rv.Interface(), depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte encodes as a base64 string
		}
		if w.nest(path, depth+1) {
			for i := range rv.Len() {
				w.value(path+"["+strconv.Itoa(i)+"]", rv.Index(i).Interface(), depth+1)
			}
		}
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			w.encoded(path, rv.Interface(), depth) // integer keys and the like: their encoded form
			return
		}
		if w.nest(path, depth+1) {
			for it := rv.MapRange(); it.Next(); {
				k := it.Key().String()
				kp := keyPath(path, k)
				if p := textProblem(k); p != "" {
					w.add(kp, "key "+p)
				}
				w.value(kp, it.Value().Interface(), depth+1)
			}
		}
	default:
		w.encoded(path, rv.Interface(), depth) // structs: what encoding/json makes of them
	}
}

// encoded checks v in the JSON encoding/json gives it.
func (w *metadataWalker) encoded(path string, v any, depth int) {
	b, err := json.Marshal(v)
	if err != nil {
		w.add(path, "is not encodable as JSON: "+err.Error())
		return
	}
	decoded, err := jsonvalue.Decode(b)
	if err != nil {
		w.add(path, "does not encode as valid JSON: "+err.Error())
		return
	}
	w.value(path, decoded, depth)
}

// keyPath names a member: parent.key for plain keys, parent["key"] for
// any other (dots, slashes, spaces, bytes that need quoting).
func keyPath(parent, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if plain {
		return parent + "." + key
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

// numberProblem says why the JSON number lit cannot be stored exactly by
// both stores, or "". PostgreSQL's jsonb keeps numbers as numeric, which
// refuses more than 131072 digits before the decimal point or 16383
// after it; the rules below stay far inside that and keep every number
// readable as a finite float64.
func numberProblem(lit string) string {
	if len(lit) > MaxMetadataNumberLength {
		return fmt.Sprintf("is a number of more than %d characters", MaxMetadataNumberLength)
	}
	if v, err := jsonvalue.Decode([]byte(lit)); err != nil || v != json.Number(lit) {
		return fmt.Sprintf("%q is not a JSON number", lit)
	}
	mantissa, exponent, hasExponent := strings.Cut(strings.ToLower(lit), "e")
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return "is a number too large: its magnitude must be at most 1.7976931348623157e308"
	}
	if f == 0 && strings.Trim(mantissa, "-0.") != "" {
		return "is a number too close to zero: a non-zero magnitude must be at least 5e-324"
	}
	if hasExponent {
		// A value in range may still carry a far exponent, a zero above
		// all ("0e-99999"), and PostgreSQL's numeric refuses that too.
		if exp, err := strconv.Atoi(strings.TrimPrefix(exponent, "+")); err != nil || exp < -1000 || exp > 1000 {
			return "is a number whose exponent is outside -1000 to 1000"
		}
	}
	return ""
}
