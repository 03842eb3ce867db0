package armspec

// Where validation departs from a plain kin-openapi check of the converted documents, each also
// commented where it is made:
//
// Looser than strict, and why it is still sound:
//   - ./common.json of the stable StackHCIVM files is read from the preview's copy (bundle.go,
//     stableCommon): the file is missing from the bundle, the definition is the same.
//   - In responses, a null member is taken as absent (validate.go, nullsAsAbsent): ARM services
//     and Microsoft's examples (Machines_Get "tags": null) do it, oav and the SDK accept it; a
//     required member that is null still fails.
//   - Paths are matched here, not by a kin-openapi router (load.go, compile): a parameter marked
//     x-ms-skip-url-encoding ({resourceUri}) spans segments. The parameter is only checked to be a
//     string, as the spec says; nothing checks that it is an Arc machine id.
//   - The OAuth 2.0 security scheme is checked for the presence of a bearer token only
//     (validate.go, bearerPresent): tokens are the server's business.
//
// Stricter than OpenAPI, as ARM and Microsoft's oav are:
//   - Every problem is reported, and an undeclared response status fails (validate.go, options).
//   - api-version must be the version the document describes (validate.go, ValidateRequest).
//   - Object members the schema does not declare fail, in requests and responses; so do x-ms-secret
//     properties in responses (strict.go).
//   - Enums are closed even where x-ms-enum says modelAsString (which makes them extensible for
//     SDKs): what we send and serve must be a listed value. One Microsoft example breaks this and
//     is listed, still failing, in the tests' errata.
//   - Literal path segments match case-sensitively, though ARM itself ignores case: clients send
//     the template's casing.
//
// Kept as kin-openapi does it: readOnly properties in a request fail (the driver must not echo a
// GET back into a PUT); readOnly properties in responses and required readOnly properties missing
// from requests are fine.
//
// Not checked, because the spec does not say it in a way a stateless check can: x-ms-mutability
// (whether a property may change on update depends on the resource existing), the long-running
// operation protocol (x-ms-long-running-operation: Azure-AsyncOperation and Location headers are
// checked only where a response declares them), x-ms-pageable's nextLink following, and
// x-ms-client-flatten, x-ms-client-name and x-ms-parameter-location, which only shape SDKs.
