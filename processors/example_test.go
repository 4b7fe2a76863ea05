package processors_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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

func ExampleFilterConfig() {
	f, err := processors.FilterConfig{MinSeverity: "high", ExcludedTopics: []string{"noise"}}.Filters()
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Allow("critical", ""), f.Allow("normal", ""), f.Allow("high", "noise"))

	_, err = processors.FilterConfig{MinSeverity: "urgent"}.Filters()
	fmt.Println(err)
	// Output:
	// true false false
	// notifications: invalid request: filter.minSeverity: Invalid minSeverity: urgent
}

func ExampleRetry_Do() {
	r := processors.Retry{
		MaxAttempts: 3,
		// Print the waits instead of waiting.
		Sleep: func(_ context.Context, d time.Duration) error { fmt.Println("wait", d); return nil },
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
