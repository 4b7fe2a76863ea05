package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/internal/jsonvalue"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// toolFunc runs one tool for principal p with its decoded arguments.
type toolFunc[In, Out any] func(ctx context.Context, p auth.Principal, in In) (Out, error)

// addTool registers t on s, for principals of kind only. Every call's
// arguments go through the same gate before fn sees them, so that the
// three tools refuse bad input alike, as tool errors:
//
//  1. strict JSON: no key twice in one object, no invalid UTF-8, no
//     escaped lone surrogate (encoding/json would pass on U+FFFD);
//  2. t's input schema (types, enums, lengths, ranges, no unknown
//     properties);
//  3. decoding into In.
//
// A panic in fn is recovered, logged and answered as an internal error.
func addTool[In, Out any](h *Handler, s *mcp.Server, t *mcp.Tool, kind auth.PrincipalKind, fn toolFunc[In, Out]) {
	schema, ok := t.InputSchema.(*jsonschema.Schema)
	if !ok {
		panic(fmt.Sprintf("agent: tool %s: input schema is not a *jsonschema.Schema", t.Name))
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("agent: tool %s: input schema: %v", t.Name, err))
	}
	s.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		defer func() {
			if v := recover(); v != nil {
				h.log.ErrorContext(ctx, "notifications MCP: panic", "tool", t.Name,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				res, err = toolError("internal error"), nil
			}
		}()
		p, ok := principal(req)
		switch {
		case !ok:
			// Not reached: ServeHTTP authenticates every request before the
			// SDK sees it.
			h.log.ErrorContext(ctx, "notifications MCP: tool called without a principal", "tool", t.Name)
			return toolError("internal error"), nil
		case p.Kind != kind:
			return toolError(fmt.Sprintf("%s requires %s credentials", t.Name, kind)), nil
		}
		in, problem := decodeArguments[In](req.Params.Arguments, resolved)
		if problem != "" {
			return toolError("invalid arguments: " + clip(problem)), nil
		}
		out, err := fn(ctx, p, in)
		if err != nil {
			return h.failure(ctx, t.Name, err), nil
		}
		data, err := json.Marshal(out)
		if err != nil {
			h.log.ErrorContext(ctx, "notifications MCP: encode result", "tool", t.Name, "error", err)
			return toolError("internal error"), nil
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: string(data)}},
			StructuredContent: json.RawMessage(data),
		}, nil
	})
}

// decodeArguments checks raw (absent means {}) and decodes it into In, or
// says what is wrong with it.
func decodeArguments[In any](raw json.RawMessage, schema *jsonschema.Resolved) (in In, problem string) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	if _, err := jsonvalue.Decode(raw); err != nil {
		return in, err.Error()
	}
	// The schema validator takes numbers as float64. One out of its range
	// becomes ±Inf, which fails any bound the schema sets, and which
	// metadata (unbounded here) leaves to the Service's number rules.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var instance any
	if err := dec.Decode(&instance); err != nil {
		return in, err.Error()
	}
	if err := schema.Validate(floats(instance)); err != nil {
		return in, strings.TrimPrefix(err.Error(), "validating root: ")
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, strings.TrimPrefix(err.Error(), "json: ")
	}
	return in, ""
}

// clip shortens a message that quotes a long argument back (the schema
// validator's do) to its start and its end, which says what is wrong.
func clip(msg string) string {
	const head, tail = 200, 200
	r := []rune(msg)
	if len(r) <= head+tail {
		return msg
	}
	return string(r[:head]) + " … " + string(r[len(r)-tail:])
}

// floats turns the json.Numbers of v into float64s.
func floats(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64) // ±Inf when out of range
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = floats(e)
		}
	case []any:
		for i, e := range v {
			v[i] = floats(e)
		}
	}
	return v
}

// toolError is a result that tells the agent what went wrong.
func toolError(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

// invalid is a tool's own refusal of its arguments.
type invalid string

func (e invalid) Error() string { return string(e) }

// failure words a tool's error for the agent: bad input names the fields,
// an unreachable store says to retry, anything else is logged and
// answered without details.
func (h *Handler) failure(ctx context.Context, tool string, err error) *mcp.CallToolResult {
	var inv invalid
	var verr *notifications.ValidationError
	switch {
	case errors.As(err, &inv):
		return toolError("invalid arguments: " + string(inv))
	case errors.As(err, &verr):
		fields := make([]string, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = f.String()
		}
		return toolError("invalid arguments: " + strings.Join(fields, "; "))
	case errors.Is(err, notifications.ErrInvalid):
		// An unresolvable recipient: the message names the ref.
		return toolError(strings.TrimPrefix(err.Error(), "notifications: "))
	case errors.Is(err, notifications.ErrUnavailable):
		return toolError("the notification store is unavailable; retry later")
	}
	h.log.ErrorContext(ctx, "notifications MCP: tool failed", "tool", tool, "error", err)
	return toolError("internal error")
}

// Schema helpers: the tools' schemas are written out, not inferred from
// Go types, so that they state every limit.

func object(required []string, props map[string]*jsonschema.Schema) *jsonschema.Schema {
	return &jsonschema.Schema{
		Type: "object", Properties: props, Required: required,
		AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
	}
}

func str(maxLen int, desc string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string", Description: desc}
	if maxLen > 0 {
		s.MaxLength = &maxLen
	}
	return s
}

func enum(desc string, values ...string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string", Description: desc}
	for _, v := range values {
		s.Enum = append(s.Enum, v)
	}
	return s
}

func integer(minimum, maximum float64, desc string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "integer", Minimum: &minimum, Description: desc}
	if maximum > 0 {
		s.Maximum = &maximum
	}
	return s
}

func ptr[T any](v T) *T { return &v }
