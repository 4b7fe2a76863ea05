package notifications

import (
	"errors"
	"slices"
	"testing"
)

func TestFiltersAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		filters  ProcessorFilter
		severity Severity
		topic    string
		want     bool
	}{
		{"no filters", ProcessorFilter{}, SeverityLow, "", true},
		{"min high skips normal", ProcessorFilter{MinSeverity: SeverityHigh}, SeverityNormal, "", false},
		{"min high runs high", ProcessorFilter{MinSeverity: SeverityHigh}, SeverityHigh, "", true},
		{"min high runs critical", ProcessorFilter{MinSeverity: SeverityHigh}, SeverityCritical, "", true},
		{"min high treats empty as normal", ProcessorFilter{MinSeverity: SeverityHigh}, "", "", false},
		{"max normal skips critical", ProcessorFilter{MaxSeverity: SeverityNormal}, SeverityCritical, "", false},
		{"max normal runs low", ProcessorFilter{MaxSeverity: SeverityNormal}, SeverityLow, "", true},
		{"max normal runs normal", ProcessorFilter{MaxSeverity: SeverityNormal}, SeverityNormal, "", true},
		{"excluded topic skipped", ProcessorFilter{ExcludedTopics: []string{"a"}}, SeverityNormal, "a", false},
		{"excluded topic, none given", ProcessorFilter{ExcludedTopics: []string{"a"}}, SeverityNormal, "", true},
		{"included topic runs", ProcessorFilter{IncludedTopics: []string{"a"}}, SeverityNormal, "a", true},
		{"other topic skipped", ProcessorFilter{IncludedTopics: []string{"a"}}, SeverityNormal, "b", false},
		{"no topic skipped", ProcessorFilter{IncludedTopics: []string{"a"}}, SeverityNormal, "", false},
		{"min and max together", ProcessorFilter{MinSeverity: SeverityHigh, MaxSeverity: SeverityHigh}, SeverityCritical, "", false},
	}
	for _, tt := range tests {
		if got := tt.filters.Allow(tt.severity, tt.topic); got != tt.want {
			t.Errorf("%s: Allow(%q, %q) = %v, want %v", tt.name, tt.severity, tt.topic, got, tt.want)
		}
	}
}

func TestFiltersValidate(t *testing.T) {
	t.Parallel()
	if err := (ProcessorFilter{MinSeverity: SeverityLow, MaxSeverity: SeverityCritical}).Validate(); err != nil {
		t.Fatalf("valid filters: %v", err)
	}
	err := (ProcessorFilter{MinSeverity: "urgent", MaxSeverity: "x"}).Validate()
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) != 2 || verr.Fields[0].Message != "Invalid minSeverity: urgent" || verr.Fields[1].Message != "Invalid maxSeverity: x" {
		t.Fatalf("Validate = %#v", err)
	}
}

func TestSeverityOrder(t *testing.T) {
	t.Parallel()
	for i, s := range Severities() {
		if s.Rank() != i {
			t.Errorf("%s.Rank() = %d, want %d", s, s.Rank(), i)
		}
	}
	if got := SeverityHigh.AndAbove(); len(got) != 2 || got[0] != SeverityCritical || got[1] != SeverityHigh {
		t.Errorf("high.AndAbove() = %v", got)
	}
	if got := SeverityLow.AndAbove(); len(got) != 4 {
		t.Errorf("low.AndAbove() = %v", got)
	}
	if Severity("").OrDefault() != SeverityNormal || Severity("").Rank() != 2 {
		t.Error("the empty severity must act as normal")
	}
	if _, err := ParseSeverity("HIGH"); err == nil {
		t.Error("ParseSeverity accepts upper case")
	}
}

// No exported function hands out package state: changing what one call
// returned changes nothing for the next.
func TestSeverityListsAreCopies(t *testing.T) {
	t.Parallel()
	high := SeverityHigh.AndAbove()
	_ = append(high, "oops") // would overwrite normal in a shared backing array
	high[0] = "changed"
	all := Severities()
	all[3] = "changed"
	_ = append(all[:1], "oops")
	fields := OrderFields()
	fields[0] = "changed"
	_ = append(fields[:1], "oops")
	if got := Severities(); !slices.Equal(got, []Severity{SeverityCritical, SeverityHigh, SeverityNormal, SeverityLow}) {
		t.Errorf("Severities() = %v after callers changed earlier results", got)
	}
	if got := SeverityLow.AndAbove(); !slices.Equal(got, []Severity{SeverityCritical, SeverityHigh, SeverityNormal, SeverityLow}) {
		t.Errorf("low.AndAbove() = %v after callers changed earlier results", got)
	}
	if got := SeverityHigh.AndAbove(); !slices.Equal(got, []Severity{SeverityCritical, SeverityHigh}) {
		t.Errorf("high.AndAbove() = %v after callers changed earlier results", got)
	}
	if got := OrderFields(); got[0] != OrderCreated || got[1] != OrderUpdated || len(got) != 8 {
		t.Errorf("OrderFields() = %v after callers changed earlier results", got)
	}
	if !SeverityNormal.AtLeast(SeverityLow) || !OrderCreated.Valid() || Severity("oops").Valid() {
		t.Error("severity and order checks changed")
	}
}
