package azurelocal

import "sync"

// perfState is what one connection remembers between observations to spare
// ARM requests; a fresh driver has none of it and reads everything.
type perfState struct {
	mu           sync.Mutex
	graphRefused error // non-nil: Resource Graph refused; GET each instance
}
