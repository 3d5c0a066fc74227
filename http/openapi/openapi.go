// Package openapi holds the OpenAPI 3.1 document of Pecan's native v1 API
// (openapi.json beside this file, the one source of truth), embedded in
// the binary and served at GET /v1/openapi.json. Package check validates
// responses against it.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// Document is the OpenAPI document's JSON. The caller must not modify it.
func Document() []byte { return document }
