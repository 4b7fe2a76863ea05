package rest

import _ "embed"

// openAPIDocument is the OpenAPI 3.1 description of every route, query
// parameter and schema the Handler serves, served at GET /openapi.json.
// It is hand-written; TestOpenAPICoversRoutes keeps it and the route table
// in step.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the API (a copy), for hosts
// that publish it elsewhere or generate clients from it. Its paths are
// relative to the mount point; servers names /api/notifications.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }
