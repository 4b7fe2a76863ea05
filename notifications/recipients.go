package notifications

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/heraldhq/herald/internal/entityref"
)

// RecipientType says how a send names its recipients.
type RecipientType string

const (
	// RecipientEntity addresses the users that entity refs resolve to:
	// users themselves, members of groups and their sub-groups, owners of
	// other entities.
	RecipientEntity RecipientType = "entity"
	// RecipientBroadcast addresses everyone; one row is stored and each
	// user keeps their own read and saved state for it.
	RecipientBroadcast RecipientType = "broadcast"
)

// Recipients names who a notification is for. Build it with Entity or
// Broadcast. Its JSON is Backstage's: {"type":"entity","entityRef":...,
// "excludeEntityRef":...} or {"type":"broadcast"}, where either ref field
// may be one string or an array when decoding.
type Recipients struct {
	Type              RecipientType
	EntityRefs        []string
	ExcludeEntityRefs []string
}

// Entity addresses the users that refs resolve to.
func Entity(refs ...string) Recipients {
	return Recipients{Type: RecipientEntity, EntityRefs: refs}
}

// Broadcast addresses everyone.
func Broadcast() Recipients { return Recipients{Type: RecipientBroadcast} }

// Excluding returns a copy of r that leaves out refs: a user, or every
// member of a group. r itself is not changed.
func (r Recipients) Excluding(refs ...string) Recipients {
	r.ExcludeEntityRefs = append(slices.Clip(r.ExcludeEntityRefs), refs...)
	return r
}

// IsBroadcast reports whether r addresses everyone.
func (r Recipients) IsBroadcast() bool { return r.Type == RecipientBroadcast }

type wireRecipients struct {
	Type             RecipientType `json:"type"`
	EntityRef        stringOrList  `json:"entityRef,omitempty"`
	ExcludeEntityRef stringOrList  `json:"excludeEntityRef,omitempty"`
}

// MarshalJSON encodes refs as arrays and leaves them out of broadcasts.
func (r Recipients) MarshalJSON() ([]byte, error) {
	w := wireRecipients{Type: r.Type}
	if r.Type != RecipientBroadcast {
		w.EntityRef = stringOrList(r.EntityRefs)
		if w.EntityRef == nil {
			w.EntityRef = stringOrList{}
		}
		w.ExcludeEntityRef = stringOrList(r.ExcludeEntityRefs)
	}
	return json.Marshal(w)
}

// stringOrList encodes refs as an array; omitempty leaves out a nil or
// empty one.
type stringOrList []string

func (l stringOrList) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(l))
}

// CanonicalEntityRef returns ref in the form Herald stores and compares
// refs in: kind:namespace/name, with kind and namespace lower-cased and the
// namespace "default" when absent ("User:jane" is "user:default/jane"; the
// name keeps its case). A ref without a kind, or one that does not parse,
// is an error wrapping ErrInvalid.
func CanonicalEntityRef(ref string) (string, error) {
	r, err := entityref.Parse(ref)
	if err != nil || r.Kind == "" {
		return "", &ValidationError{Fields: []FieldError{{Field: "entityRef", Message: fmt.Sprintf("%q is not an entity ref of the form kind:namespace/name", ref)}}}
	}
	return r.String(), nil
}
