package e2e

import (
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// abuse holds the misbehaving programs of one language.
type abuse struct {
	burn, sleep, alloc, crash, exit3, flood string
	// crashSignal is the signal that must end the crash program, 0 if it
	// ends by exiting non-zero instead.
	crashSignal int
}

var abuses = map[string]abuse{
	"c": {
		burn: `int main(void) { volatile unsigned long x = 0; for (;;) x++; }
`,
		sleep: `#include <unistd.h>
int main(void) { sleep(30); return 0; }
`,
		alloc: `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    size_t n = 512u << 20;
    char *p = malloc(n);
    if (!p) return 42;
    memset(p, 1, n);
    volatile char *q = p;
    for (size_t i = 0; i < n; i += 4096) q[i] = (char)i;
    printf("%d\n", q[n / 2]);
    return 0;
}
`,
		crash: `int main(void) { *(volatile int *)0 = 1; return 0; }
`,
		crashSignal: 11,
		exit3: `int main(void) { return 3; }
`,
		flood: `#include <stdio.h>
int main(void) { for (;;) puts("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"); }
`,
	},
	"python": {
		burn: `x = 0
while True:
    x += 1
`,
		sleep: `import time
time.sleep(30)
`,
		alloc: `b = bytearray(512 * 1024 * 1024)
for i in range(0, len(b), 4096):
    b[i] = 1
print(len(b))
`,
		crash: `raise ValueError("boom")
`,
		exit3: `import sys
sys.exit(3)
`,
		flood: `s = "y" * 1000
while True:
    print(s)
`,
	},
	"java": {
		burn: `public class Main {
    public static void main(String[] args) {
        long x = 0;
        while (true) { x++; if (x == Long.MIN_VALUE) System.out.println(x); }
    }
}
`,
		sleep: `public class Main {
    public static void main(String[] args) throws Exception { Thread.sleep(30000); }
}
`,
		alloc: `import java.util.ArrayList;
public class Main {
    public static void main(String[] args) {
        ArrayList<long[]> keep = new ArrayList<>();
        for (int i = 0; i < 512; i++) {
            long[] a = new long[1 << 17]; // 1 MiB
            java.util.Arrays.fill(a, i);
            keep.add(a);
        }
        System.out.println(keep.size());
    }
}
`,
		crash: `public class Main {
    public static void main(String[] args) { throw new IllegalStateException("boom"); }
}
`,
		exit3: `public class Main {
    public static void main(String[] args) { System.exit(3); }
}
`,
		flood: `public class Main {
    public static void main(String[] args) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 1000; i++) sb.append('y');
        String s = sb.toString();
        while (true) System.out.println(s);
    }
}
`,
	},
}

// TestLimits checks TLE (CPU and wall), MLE, RE (crash, exit code) and OLE
// in C, Python and Java.
func TestLimits(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for name, a := range abuses {
		t.Run(name+"/cpu_time", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.burn, TimeLimit: 1})
			expect(t, r, testserver.TimeLimitExceeded)
			if r.Time < 1.0 || r.Time > 1.5 {
				t.Errorf("time = %.3f, want within [1.0, 1.5] for a 1 s CPU limit: %s", r.Time, r)
			}
		})
		t.Run(name+"/wall_time", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.sleep, TimeLimit: 1, WallTimeLimit: 2})
			expect(t, r, testserver.TimeLimitExceeded)
			if r.Time >= 0.5 {
				if reason, ok := exceptions.For(name + "/wall_time"); ok {
					t.Logf("named exception %s/%s/wall_time (%s): time = %.3f: %s", testserver.Backend(), name, reason, r.Time, r)
				} else {
					t.Errorf("time = %.3f CPU s for a sleeping program, want < 0.5: %s", r.Time, r)
				}
			}
			if r.WallTime < 2 {
				t.Errorf("wall_time = %.3f, want >= the 2 s wall limit: %s", r.WallTime, r)
			}
		})
		t.Run(name+"/memory", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.alloc, MemoryLimit: 65536, TimeLimit: 5})
			expect(t, r, testserver.MemoryLimitExceeded)
		})
		t.Run(name+"/crash", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.crash})
			expect(t, r, testserver.RuntimeError)
			if a.crashSignal != 0 && r.Signal != a.crashSignal {
				t.Errorf("signal = %d, want %d: %s", r.Signal, a.crashSignal, r)
			}
			if a.crashSignal == 0 && r.ExitCode == 0 {
				t.Errorf("exit_code = 0 for an uncaught exception: %s", r)
			}
			if name != "c" && !strings.Contains(r.Stderr, "boom") {
				t.Errorf("stderr does not carry the exception message: %s", r)
			}
		})
		t.Run(name+"/exit_code", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.exit3})
			expect(t, r, testserver.RuntimeError)
			if r.ExitCode != 3 || r.Signal != 0 {
				t.Errorf("exit_code = %d signal = %d, want 3 and 0: %s", r.ExitCode, r.Signal, r)
			}
		})
		t.Run(name+"/output_flood", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: a.flood, TimeLimit: 10})
			expect(t, r, testserver.OutputLimitExceeded)
		})
	}
}
