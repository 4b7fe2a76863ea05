package processors_test

import (
	"encoding/json"
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

// A post-processor makes one attempt and classifies its failure: the
// Service retries a plain error with backoff, a RetryLater no sooner than
// asked, and never a Permanent one.
func ExampleParseRetryAfter() {
	classify := func(code int, retryAfter string) error {
		err := fmt.Errorf("answered %d", code)
		switch {
		case code == 429 || code == 503:
			if d, ok := processors.ParseRetryAfter(retryAfter, time.Now()); ok {
				return notifications.RetryLater(err, d)
			}
			return err
		case code >= 500:
			return err
		}
		return notifications.Permanent(err)
	}
	for _, err := range []error{classify(429, "7"), classify(503, "86400"), classify(500, ""), classify(400, "")} {
		d, later := notifications.RetryAfter(err)
		fmt.Println(err, "| permanent:", notifications.IsPermanent(err), "| retry after:", d, later)
	}
	// Output:
	// answered 429 (retry after 7s) | permanent: false | retry after: 7s true
	// answered 503 (retry after 1h0m0s) | permanent: false | retry after: 1h0m0s true
	// answered 500 | permanent: false | retry after: 0s false
	// answered 400 | permanent: true | retry after: 0s false
}
