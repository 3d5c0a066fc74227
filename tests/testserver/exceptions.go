package testserver

// Exceptions are the guarantees of DESIGN §6 that a backend cannot give:
// backend -> case -> reason. A suite runs a case with an exception like
// any other and logs what its check found instead of failing.
type Exceptions map[string]map[string]string

// For is the current backend's reason for the case named name, if any.
func (e Exceptions) For(name string) (string, bool) {
	reason, ok := e[Backend()][name]
	return reason, ok
}
