package main

import (
	"encoding/base64"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// plainJSON is m as a script wants it from -o json: the .proto's
// snake_case field names, every field (an empty one as its zero value, so
// that a script finds each key), numbers as JSON numbers (64-bit ones
// too, not strings), and an enum as the word its flag takes: "committed",
// not "TX_STATE_COMMITTED". A map of such values, for encoding/json.
func plainJSON(m proto.Message) map[string]any {
	return plainMessage(m.ProtoReflect())
}

func plainMessage(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			vs := make([]any, l.Len())
			for j := range l.Len() {
				vs[j] = plainValue(fd, l.Get(j))
			}
			out[name] = vs
		case fd.IsMap():
			mp := map[string]any{}
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				mp[k.String()] = plainValue(fd.MapValue(), v)
				return true
			})
			out[name] = mp
		case fd.Message() != nil && !m.Has(fd):
			out[name] = nil
		default:
			out[name] = plainValue(fd, m.Get(fd))
		}
	}
	return out
}

func plainValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return plainMessage(v.Message())
	case protoreflect.EnumKind:
		return enumWord(fd.Enum(), v.Enum())
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	}
	return v.Interface() // bool, string, the integers and floats as numbers
}

// enumWord is an enum value's name without its type's prefix, in lower
// case: TX_STATE_COMMITTED of TxState is "committed", VOTE_READ_ONLY of
// Vote "read_only"; the zero value (UNSPECIFIED) is "".
func enumWord(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if n == 0 {
		return ""
	}
	vd := ed.Values().ByNumber(n)
	if vd == nil {
		return ""
	}
	name := string(vd.Name())
	name = strings.TrimPrefix(name, screamingSnake(string(ed.Name()))+"_")
	return strings.ToLower(name)
}

// screamingSnake is TxState as TX_STATE.
func screamingSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
