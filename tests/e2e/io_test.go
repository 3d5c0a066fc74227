package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// TestLargeStdin sums ~250k numbers (about 2 MB of stdin).
func TestLargeStdin(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	rng := rand.New(rand.NewSource(1))
	var sb strings.Builder
	var sum int64
	for i := 0; i < 250000; i++ {
		v := rng.Int63n(20_000_000) - 10_000_000
		sum += v
		sb.WriteString(strconv.FormatInt(v, 10))
		if i%10 == 9 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	stdin := sb.String()
	if len(stdin) < 2_000_000 {
		t.Fatalf("generated only %d bytes of stdin", len(stdin))
	}
	want := fmt.Sprintf("%d\n", sum)
	programs := map[string]string{
		"c": `#include <stdio.h>
int main(void) {
    long long s = 0, v;
    while (scanf("%lld", &v) == 1) s += v;
    printf("%lld\n", s);
    return 0;
}
`,
		"python": `import sys
print(sum(map(int, sys.stdin.buffer.read().split())))
`,
	}
	for name, code := range programs {
		t.Run(name, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: code, Stdin: stdin, DesiredStdout: want, TimeLimit: 5})
			expect(t, r, testserver.Accepted)
			if r.Stdout != want {
				t.Errorf("stdout = %q, want %q", r.Stdout, want)
			}
		})
	}
}

// TestCheckers runs the built-in checkers end to end with a Python program
// that prints its stdin verbatim.
func TestCheckers(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	const echo = "import sys\nsys.stdout.write(sys.stdin.read())\n"
	cases := []struct {
		name, checker, out, want string
		code                     int
	}{
		{"exact_equal", "exact", "1 2\n3\n", "1 2\n3\n", testserver.Accepted},
		{"exact_trailing_space", "exact", "1 2 \n3\n", "1 2\n3\n", testserver.WrongAnswer},
		{"exact_missing_newline", "exact", "1 2\n3", "1 2\n3\n", testserver.WrongAnswer},
		{"lines_trailing_space", "lines", "1 2 \n3  \n\n\n", "1 2\n3\n", testserver.Accepted},
		{"lines_crlf", "lines", "1 2\r\n3\r\n", "1 2\n3\n", testserver.Accepted},
		{"lines_default", "", "1 2 \n3\n", "1 2\n3\n", testserver.Accepted},
		{"lines_inner_space", "lines", "1  2\n3\n", "1 2\n3\n", testserver.WrongAnswer},
		{"lines_joined", "lines", "1 2 3\n", "1 2\n3\n", testserver.WrongAnswer},
		{"tokens_layout", "tokens", "  1\n\n2   3 \n", "1 2 3", testserver.Accepted},
		{"tokens_differ", "tokens", "1 2 4\n", "1 2 3\n", testserver.WrongAnswer},
		{"float_close", "float:1e-6", "3.1415926 2.0000001\n", "3.14159265 2\n", testserver.Accepted},
		{"float_far", "float:1e-6", "3.1415 2\n", "3.14159265 2\n", testserver.WrongAnswer},
		{"float_relative", "float:1e-6", "1000000.5\n", "1000000\n", testserver.Accepted},
		{"float_not_number", "float:1e-6", "abc\n", "3.14\n", testserver.WrongAnswer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: "python", Code: echo, Stdin: c.out, DesiredStdout: c.want, Checker: c.checker})
			expect(t, r, c.code)
			if r.Stdout != c.out {
				t.Errorf("stdout = %q, want the program's output %q", r.Stdout, c.out)
			}
		})
	}
}

// TestQueue sends more A+B jobs at once than there are sandboxes; the
// server must queue and judge every one of them.
func TestQueue(t *testing.T) {
	start(t)
	const n = 6
	var wg sync.WaitGroup
	results := make([]*testserver.Result, n)
	errs := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := i*1000, i+7
			body := fmt.Sprintf(`{"language":"c","code":%q,"stdin":"%d %d","desired_stdout":"%d\n"}`,
				sumProgram("c", "0"), a, b, a+b)
			status, resp, err := rawPost("/v1/judge/judge-single", "application/json", []byte(body))
			var r testserver.Result
			switch {
			case err != nil:
				errs[i] = fmt.Sprintf("job %d: %v", i, err)
			case status != 200:
				errs[i] = fmt.Sprintf("job %d: HTTP %d %s", i, status, clip(string(resp)))
			case json.Unmarshal(resp, &r) != nil:
				errs[i] = fmt.Sprintf("job %d: undecodable %s", i, clip(string(resp)))
			default:
				results[i] = &r
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != "" {
			t.Error(errs[i])
			continue
		}
		if results[i].Code != testserver.Accepted {
			t.Errorf("job %d: %s", i, results[i])
		}
	}
}
