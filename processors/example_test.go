package processors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
)

func ExampleAbsoluteLink() {
	fmt.Println(processors.AbsoluteLink("https://backstage.example.com", "/catalog/default/component/api"))
	fmt.Println(processors.AbsoluteLink("https://backstage.example.com", ""))
	fmt.Println(processors.AbsoluteLink("https://backstage.example.com", "https://ci.example.com/run/42"))
	// Output:
	// https://backstage.example.com/catalog/default/component/api
	// https://backstage.example.com/notifications
	// https://ci.example.com/run/42
}

// A processor's filter block, as Backstage's configuration writes it,
// decodes straight into notifications.ProcessorFilter: the JSON (or YAML,
// with a decoder that honours json tags) names are Backstage's. Validate
// refuses a severity that is not one of the four, with Backstage's
// message; every built-in processor's New validates its Filter the same
// way.
func Example_filterFromConfig() {
	var f notifications.ProcessorFilter
	if err := json.Unmarshal([]byte(`{"minSeverity": "high", "excludedTopics": ["noise"]}`), &f); err != nil {
		panic(err)
	}
	if err := f.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(f.Allow(notifications.SeverityCritical, ""), f.Allow(notifications.SeverityNormal, ""), f.Allow(notifications.SeverityHigh, "noise"))

	var bad notifications.ProcessorFilter
	if err := json.Unmarshal([]byte(`{"minSeverity": "urgent"}`), &bad); err != nil {
		panic(err)
	}
	fmt.Println(bad.Validate())
	// Output:
	// true false false
	// notifications: invalid request: filter.minSeverity: Invalid minSeverity: urgent
}

func ExampleRetry_Do() {
	r := processors.Retry{
		MaxAttempts: 3,
		// Print the waits instead of waiting.
		SleepFunc: func(_ context.Context, d time.Duration) error { fmt.Println("wait", d); return nil },
	}
	err := r.Do(context.Background(), func(_ context.Context, attempt int) error {
		if attempt == 1 {
			// A 429 with Retry-After: 2 is waited exactly.
			return processors.RetryAfter(errors.New("429 Too Many Requests"), 2*time.Second)
		}
		if attempt == 2 {
			return errors.New("400 Bad Request") // not marked: permanent
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// wait 2s
	// 400 Bad Request
}
