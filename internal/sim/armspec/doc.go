// Package armspec is the conformance harness for everything in tlreconcile that speaks Azure Resource
// Manager: it loads Microsoft's swagger 2.0 descriptions of Azure Local VMs (StackHCIVM 2024-01-01) and
// Arc machines (HybridCompute 2025-01-13) from the azure-rest-api-specs bundle, validates requests and
// responses against them with kin-openapi (directly, or as an http.RoundTripper under a test client), and
// hands out Microsoft's own x-ms-examples as requests and expected responses. It owns the spec files'
// loading and every deviation from strict validation, each documented where it is made; it must not
// know the simulated server or the driver, hold state between calls, or relax a rule to make a
// particular implementation pass: a response the spec rejects must fail the test that produced it.
package armspec
