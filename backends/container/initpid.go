package container

import (
	"os"
	"reflect"

	"github.com/criyle/go-sandbox/container"
)

// initPIDOf is the host pid of env's init process, 0 when it cannot be
// read. go-sandbox keeps the init's *os.Process in an unexported field of
// the environment and does not expose it; reflection reads it (never
// writes it). The earlier way, listing this process's children before and
// after every build, cost about a millisecond of kernel time per build
// under load (/proc lookups) and serialised the builds.
// TestInitPIDIsTheContainerInit proves the field still holds the init
// with the pinned go-sandbox version.
func initPIDOf(env container.Environment) int {
	v := reflect.ValueOf(env)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0
	}
	p := v.Elem().FieldByName("process")
	if !p.IsValid() || p.Type() != reflect.TypeOf((*os.Process)(nil)) || p.IsNil() {
		return 0
	}
	return int(p.Elem().FieldByName("Pid").Int())
}
