package notifications

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

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
	// MaxMetadataDepth bounds how deeply objects and arrays nest in
	// Payload.Metadata, the metadata object itself being level 1.
	// PostgreSQL parses jsonb recursively and, with a small
	// max_stack_depth, refuses nesting some hundreds deep.
	MaxMetadataDepth = 100
	// MaxMetadataNumberLength bounds a metadata number as written in JSON,
	// in characters: far more digits than a JavaScript client (or a
	// float64) can use, and few enough that both stores hold every
	// accepted number exactly. See SendOptions.Validate for the other
	// number rules.
	MaxMetadataNumberLength = 100
)

// sendRequest mirrors SendOptions with the rules as validator tags, so the
// public types stay free of them. Field names are the JSON paths reported
// in FieldError.Field.
type sendRequest struct {
	Origin     string            `json:"origin" validate:"required,max=255,text"`
	Recipients recipientsRequest `json:"recipients"`
	Payload    payloadRequest    `json:"payload"`
}

type recipientsRequest struct {
	Type             string   `json:"type" validate:"oneof=entity broadcast"`
	EntityRef        []string `json:"entityRef" validate:"required_if=Type entity,dive,entityref"`
	ExcludeEntityRef []string `json:"excludeEntityRef" validate:"dive,entityref,haskind"`
}

type payloadRequest struct {
	Title       string `json:"title" validate:"required,max=255,text"`
	Description string `json:"description" validate:"text"`
	Link        string `json:"link" validate:"omitempty,text,link"`
	Severity    string `json:"severity" validate:"omitempty,oneof=critical high normal low"`
	Topic       string `json:"topic" validate:"max=255,text"`
	Scope       string `json:"scope" validate:"max=255,text"`
	Icon        string `json:"icon" validate:"max=255,text"`
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
	must(v.RegisterValidation("haskind", func(fl validator.FieldLevel) bool {
		r, err := entityref.Parse(fl.Field().String())
		return err == nil && r.Kind != ""
	}))
	must(v.RegisterValidation("text", func(fl validator.FieldLevel) bool {
		return textProblem(fl.Field().String()) == ""
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

// ErrLink is wrapped by ValidateLink's errors. Its text is Backstage's,
// which the REST API repeats in its 400 answer.
var ErrLink = errors.New("Only HTTP/HTTPS links are allowed") //nolint:staticcheck // Backstage's exact message

// linkBase stands in for the app's base URL when resolving relative links:
// only the resulting scheme matters, and a relative link takes the base's.
var linkBase = &url.URL{Scheme: "http", Host: "localhost", Path: "/"}

// ValidateLink reports whether link is a relative path or an absolute http
// or https URL, Backstage's rule, made safe: strip one leading "/",
// resolve against the app's base URL, and require an http or https result.
// So "/catalog", "docs/a" and "https://example.com" pass;
// "javascript:alert(1)", "ftp://x" and "mailto:x@y" do not.
//
// Unlike Backstage, Herald also refuses links a browser would take to
// another host: protocol-relative ones ("//evil.example/x") and ones with
// a backslash among the slashes that start them ("/\evil.example/x",
// "\\evil.example"), since browsers read a backslash there as a slash;
// and links that start with white space, which browsers strip.
// Notifications stored before this rule are served as they are.
func ValidateLink(link string) error {
	if link != "" && link[0] <= ' ' {
		return fmt.Errorf("%w: a link must not start with white space", ErrLink)
	}
	if lead := len(link) - len(strings.TrimLeft(link, `/\`)); lead > 1 || lead == 1 && link[0] == '\\' {
		return fmt.Errorf("%w: protocol-relative and backslash links are not allowed", ErrLink)
	}
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

// textProblem says what makes s unfit for storage, or "": every string
// Herald stores must be valid UTF-8 (PostgreSQL refuses anything else)
// without NUL characters (PostgreSQL text cannot hold them), so both
// stores answer alike.
func textProblem(s string) string {
	for i := range len(s) {
		c := s[i]
		if c == 0 {
			return "must not contain a NUL character"
		}
		if c >= utf8.RuneSelf {
			if !utf8.ValidString(s[i:]) {
				return "must be valid UTF-8"
			}
			if strings.IndexByte(s[i:], 0) >= 0 {
				return "must not contain a NUL character"
			}
			return ""
		}
	}
	return ""
}

// checkText adds a field error to verr when s is not storable text.
func (e *ValidationError) checkText(field, s string) {
	if p := textProblem(s); p != "" {
		e.add(field, p)
	}
}

// Validate checks o against every send rule and returns a
// *ValidationError naming each bad field, or nil. Send calls it, and so
// does notificationstest.Recorder: what it accepts, every store stores
// alike and reads back unchanged. The rules:
//
//   - origin and title are required; origin, title, topic, scope and icon
//     are at most MaxFieldLength characters;
//   - every string (origin, payload fields, refs, metadata keys and string
//     values at any depth) is valid UTF-8 without NUL characters;
//   - entity refs parse as [kind:][namespace/]name (a ref without a kind
//     is left to the resolver, which by default refuses it), exclusions
//     too and must name a kind; an entity send names at least one ref;
//   - the link passes ValidateLink and the severity is one of the four;
//   - metadata encodes to at most MaxMetadataBytes of JSON and nests at
//     most MaxMetadataDepth levels; floats are finite; and a number
//     (json.Number, or decoded from JSON) is at most
//     MaxMetadataNumberLength characters, has an exponent between -1000
//     and 1000, and is zero or lies within float64's finite range without
//     rounding to zero (about 5e-324 to 1.8e308 in magnitude), so
//     PostgreSQL's numeric stores it exactly and a float64 can hold it.
//
// A bad metadata value is named by its path, like payload.metadata.a[2].b
// or payload.metadata["backstage.io/x"]; values of other Go types than
// those encoding/json decodes to are checked as encoding/json encodes
// them.
func (o SendOptions) Validate() error {
	req := sendRequest{
		Origin: o.Origin,
		Recipients: recipientsRequest{
			Type: string(o.Recipients.Type), EntityRef: o.Recipients.EntityRefs,
			ExcludeEntityRef: o.Recipients.ExcludeEntityRefs,
		},
		Payload: newPayloadRequest(o.Payload),
	}
	var verr ValidationError
	if !sendRequestValid(&req) {
		if err := checkStruct(&verr, req); err != nil {
			return err
		}
	}
	if len(o.Recipients.EntityRefs) == 0 && o.Recipients.Type == RecipientEntity && !verr.has("recipients.entityRef") {
		verr.add("recipients.entityRef", "is required for entity recipients")
	}
	validateMetadata(&verr, o.Payload.Metadata)
	return verr.errOrNil()
}

// validatePayload checks a payload alone with Validate's rules: what a
// pre-processor returns.
func validatePayload(p Payload) error {
	var verr ValidationError
	if req := newPayloadRequest(p); !payloadRequestValid(&req) {
		if err := checkStruct(&verr, struct {
			Payload payloadRequest `json:"payload"`
		}{req}); err != nil {
			return err
		}
	}
	validateMetadata(&verr, p.Metadata)
	return verr.errOrNil()
}

func newPayloadRequest(p Payload) payloadRequest {
	return payloadRequest{
		Title: p.Title, Description: p.Description, Link: p.Link, Severity: string(p.Severity),
		Topic: p.Topic, Scope: p.Scope, Icon: p.Icon,
	}
}

// checkStruct runs the validator over req, adding its field errors to
// verr; it returns an error only when the validator itself fails.
func checkStruct(verr *ValidationError, req any) error {
	err := validate().Struct(req)
	if err == nil {
		return nil
	}
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		return fmt.Errorf("notifications: validate: %w", err)
	}
	for _, fe := range fieldErrs {
		verr.add(fieldPath(fe.Namespace()), fieldMessage(fe))
	}
	return nil
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
	case "haskind":
		return fmt.Sprintf("%q names no kind: an exclusion must be of the form kind:[namespace/]name", fe.Value())
	case "text":
		return textProblem(fmt.Sprint(fe.Value()))
	case "link":
		return fmt.Sprintf("Invalid link provided; %v", ValidateLink(fmt.Sprint(fe.Value())))
	}
	return "fails rule " + fe.Tag()
}
