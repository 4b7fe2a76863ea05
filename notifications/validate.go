package notifications

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/heraldhq/herald/internal/entityref"
)

// Limits on what a send may carry. Larger input is refused with a
// *ValidationError before anything is written.
const (
	// MaxFieldLength bounds title, topic, scope, icon and origin, in
	// characters; the store's columns are varchar(255).
	MaxFieldLength = 255
	// MaxMetadataBytes bounds the encoded JSON of Payload.Metadata.
	MaxMetadataBytes = 64 << 10
)

// sendRequest mirrors SendOptions with the rules as validator tags, so the
// public types stay free of them. Field names are the JSON paths reported
// in FieldError.Field.
type sendRequest struct {
	Origin     string            `json:"origin" validate:"required,max=255"`
	Recipients recipientsRequest `json:"recipients"`
	Payload    payloadRequest    `json:"payload"`
}

type recipientsRequest struct {
	Type             string   `json:"type" validate:"oneof=entity broadcast"`
	EntityRef        []string `json:"entityRef" validate:"required_if=Type entity,dive,entityref"`
	ExcludeEntityRef []string `json:"excludeEntityRef" validate:"dive,entityref"`
}

type payloadRequest struct {
	Title       string `json:"title" validate:"required,max=255"`
	Description string `json:"description"`
	Link        string `json:"link" validate:"omitempty,link"`
	Severity    string `json:"severity" validate:"omitempty,oneof=critical high normal low"`
	Topic       string `json:"topic" validate:"max=255"`
	Scope       string `json:"scope" validate:"max=255"`
	Icon        string `json:"icon" validate:"max=255"`
}

// validate is the one validator Herald uses; a validator caches struct
// metadata and is safe for concurrent use, so it is built once, lazily.
var validate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	must(v.RegisterValidation("entityref", func(fl validator.FieldLevel) bool {
		_, err := entityref.Parse(fl.Field().String())
		return err == nil
	}))
	must(v.RegisterValidation("link", func(fl validator.FieldLevel) bool {
		return ValidateLink(fl.Field().String()) == nil
	}))
	return v
})

func must(err error) {
	if err != nil {
		panic(err) // a programming error in the tags above
	}
}

// ErrLink is wrapped by ValidateLink's errors.
var ErrLink = errors.New("Only HTTP/HTTPS links are allowed")

// linkBase stands in for the app's base URL when resolving relative links:
// only the resulting scheme matters, and a relative link takes the base's.
var linkBase = &url.URL{Scheme: "http", Host: "localhost", Path: "/"}

// ValidateLink reports whether link is a relative path or an absolute http
// or https URL, the rule Backstage applies: strip one leading "/", resolve
// against the app's base URL, and require an http or https result. So
// "/catalog", "https://example.com" and "//evil.com" (a path under the
// app) pass; "javascript:alert(1)", "ftp://x" and "mailto:x@y" do not.
func ValidateLink(link string) error {
	ref, err := url.Parse(strings.TrimPrefix(link, "/"))
	if err != nil {
		return fmt.Errorf("%w: Invalid URL", ErrLink)
	}
	resolved := linkBase.ResolveReference(ref)
	switch strings.ToLower(resolved.Scheme) {
	case "http", "https":
	default:
		return ErrLink
	}
	if ref.IsAbs() && resolved.Host == "" {
		return fmt.Errorf("%w: %q has no host", ErrLink, link)
	}
	return nil
}

// Validate checks o against every send rule and returns a
// *ValidationError naming each bad field, or nil.
func (o SendOptions) Validate() error {
	req := sendRequest{
		Origin: o.Origin,
		Recipients: recipientsRequest{
			Type: string(o.Recipients.Type), EntityRef: o.Recipients.EntityRefs,
			ExcludeEntityRef: o.Recipients.ExcludeEntityRefs,
		},
		Payload: payloadRequest{
			Title: o.Payload.Title, Description: o.Payload.Description, Link: o.Payload.Link,
			Severity: string(o.Payload.Severity), Topic: o.Payload.Topic, Scope: o.Payload.Scope,
			Icon: o.Payload.Icon,
		},
	}
	var verr ValidationError
	if err := validate().Struct(req); err != nil {
		var fieldErrs validator.ValidationErrors
		if !errors.As(err, &fieldErrs) {
			return fmt.Errorf("notifications: validate: %w", err)
		}
		for _, fe := range fieldErrs {
			verr.add(fieldPath(fe.Namespace()), fieldMessage(fe))
		}
	}
	if len(o.Recipients.EntityRefs) == 0 && o.Recipients.Type == RecipientEntity && !verr.has("recipients.entityRef") {
		verr.add("recipients.entityRef", "is required for entity recipients")
	}
	if o.Payload.Metadata != nil {
		if b, err := json.Marshal(o.Payload.Metadata); err != nil {
			verr.add("payload.metadata", "is not encodable as JSON: "+err.Error())
		} else if len(b) > MaxMetadataBytes {
			verr.add("payload.metadata", fmt.Sprintf("is %d bytes encoded, more than %d", len(b), MaxMetadataBytes))
		}
	}
	return verr.errOrNil()
}

func (e *ValidationError) has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// fieldPath turns validator's "sendRequest.payload.title" into
// "payload.title".
func fieldPath(namespace string) string {
	_, rest, ok := strings.Cut(namespace, ".")
	if !ok {
		return namespace
	}
	return rest
}

func fieldMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required", "required_if":
		return "is required"
	case "max":
		return fmt.Sprintf("must be at most %s characters", fe.Param())
	case "oneof":
		return fmt.Sprintf("must be one of %s, not %q", strings.ReplaceAll(fe.Param(), " ", ", "), fe.Value())
	case "entityref":
		return fmt.Sprintf("%q is not an entity ref of the form [kind:][namespace/]name", fe.Value())
	case "link":
		return fmt.Sprintf("Invalid link provided; %v", ValidateLink(fmt.Sprint(fe.Value())))
	}
	return "fails rule " + fe.Tag()
}
