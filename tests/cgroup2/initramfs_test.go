//go:build !cgroup2guest

package cgroup2

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// guestModules are the modules the guest's init loads to mount the 9p
// shares; their dependencies come first (moduleOrder).
var guestModules = []string{"virtio_pci", "9pnet_virtio", "9p"}

// cpioWriter writes an archive in the "newc" format the kernel unpacks as
// its initramfs.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(data)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	_, c.err = c.w.Write(b.Bytes())
}

func (c *cpioWriter) dir(name string)               { c.entry(name, syscall.S_IFDIR|0o755, 0, 0, nil) }
func (c *cpioWriter) file(name string, data []byte) { c.entry(name, syscall.S_IFREG|0o755, 0, 0, data) }
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

// writeInitramfs writes the guest's initramfs: a static busybox, the
// modules that mount 9p, the init script, and /dev/console (the kernel
// opens it for init's standard streams before anything is mounted).
func writeInitramfs(w io.Writer, busybox, modulesDir string, modules []string, init string) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := requireStatic(busybox); err != nil {
		return err
	}
	c := &cpioWriter{w: w}
	for _, d := range []string{"bin", "dev", "proc", "sys", "host", "lib", "lib/modules"} {
		c.dir(d)
	}
	c.entry("dev/console", syscall.S_IFCHR|0o600, 5, 1, nil)
	c.file("bin/busybox", bb)
	for _, m := range modules {
		b, err := os.ReadFile(m)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		c.file("lib/modules/"+filepath.Base(m), b)
	}
	c.file("init", []byte(init))
	return c.close()
}

// requireStatic fails for a dynamically linked busybox: the initramfs has
// no libc (Debian's busybox-static is static, its busybox is not).
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox %s is dynamically linked; the guest needs busybox-static's", path)
		}
	}
	return nil
}

// moduleOrder finds the modules named and what they depend on (the
// "depends=" entry of each module's .modinfo: a kernel unpacked from its
// package has no modules.dep, which depmod writes at installation), and
// returns their files, every module after its dependencies.
func moduleOrder(modulesDir string, names []string) ([]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(modulesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			files[canonical(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		name = canonical(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("modules: dependency cycle at %s", name)
		case 2:
			return nil
		}
		path, ok := files[name]
		if !ok {
			return fmt.Errorf("modules: %s not found under %s (built in, or a different kernel?)", name, modulesDir)
		}
		state[name] = 1
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, path)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// canonical is a module name as the kernel compares them: '-' and '_'
// are the same.
func canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, field := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, errors.New("module " + path + ": no depends= in .modinfo")
}
