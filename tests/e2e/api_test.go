package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// TestBadRequests sends malformed and invalid requests to the real server:
// each gets an honest status and a JSON {"error": ...} body, and the server
// still judges afterwards.
func TestBadRequests(t *testing.T) {
	start(t)
	aplusb := sumProgram("python", "0")
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	withLimits := func(limits string) string {
		return `{"language":"python","code":` + quote(aplusb) + `,"stdin":"1 2","desired_stdout":"3",` + limits + `}`
	}
	cases := []struct {
		name, contentType, body string
		status                  int
		// mention is a piece the error message must contain.
		mention string
	}{
		{"invalid_json", "application/json", `{"language": "python", "code": `, 400, "JSON"},
		{"not_an_object", "application/json", `[1, 2]`, 400, "object"},
		{"empty_body", "application/json", ``, 400, "empty"},
		{"missing_code", "application/json", `{"language":"python","stdin":"1 2"}`, 400, "code"},
		{"empty_code", "application/json", `{"language":"python","code":""}`, 400, "code"},
		{"missing_language", "application/json", `{"code":` + quote(aplusb) + `}`, 400, "language"},
		{"unknown_language", "application/json", `{"language":"cobol","code":` + quote(aplusb) + `}`, 400, "python"},
		{"negative_time_limit", "application/json", withLimits(`"time_limit":-1`), 400, "time_limit"},
		{"zero_time_limit", "application/json", withLimits(`"time_limit":0`), 400, "time_limit"},
		{"huge_time_limit", "application/json", withLimits(`"time_limit":1e9`), 400, "time_limit"},
		{"overflowing_time_limit", "application/json", withLimits(`"time_limit":1e400`), 400, "time_limit"},
		{"string_time_limit", "application/json", withLimits(`"time_limit":"1"`), 400, "time_limit"},
		{"negative_wall_time_limit", "application/json", withLimits(`"wall_time_limit":-2`), 400, "wall_time_limit"},
		{"string_memory_limit", "application/json", withLimits(`"memory_limit":"65536"`), 400, "memory_limit"},
		{"negative_memory_limit", "application/json", withLimits(`"memory_limit":-1`), 400, "memory_limit"},
		{"huge_memory_limit", "application/json", withLimits(`"memory_limit":1e15`), 400, "memory_limit"},
		{"unknown_checker", "application/json", withLimits(`"checker":"nonsense"`), 400, "checker"},
		{"text_plain", "text/plain", withLimits(`"time_limit":1`), 415, "application/json"},
		{"form", "application/x-www-form-urlencoded", "code=1&language=python", 415, "application/json"},
	}
	for _, c := range cases {
		status, body := post(t, "/v1/judge/judge-single", c.contentType, []byte(c.body))
		var e struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || *e.Error == "" {
			t.Errorf("%s: body is not {\"error\": ...}: HTTP %d %q", c.name, status, clip(string(body)))
			continue
		}
		if status != c.status {
			t.Errorf("%s: HTTP %d, want %d (error %q)", c.name, status, c.status, *e.Error)
		}
		if !strings.Contains(*e.Error, c.mention) {
			t.Errorf("%s: error %q does not mention %q", c.name, *e.Error, c.mention)
		}
	}

	// Wrong method and unknown route: JSON errors too.
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/judge/judge-single", 405},
		{http.MethodGet, "/v1/nonexistent", 404},
	} {
		req, _ := http.NewRequest(c.method, baseURL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || err != nil || e.Error == "" {
			t.Errorf("%s %s: HTTP %d error %q (decode: %v), want %d with a JSON error", c.method, c.path, resp.StatusCode, e.Error, err, c.status)
		}
	}

	// The server is still healthy and judging.
	r := judge(t, testserver.Job{Language: "python", Code: aplusb, Stdin: "1 2\n", DesiredStdout: "3\n"})
	expect(t, r, testserver.Accepted)
}

func TestLanguagesEndpoint(t *testing.T) {
	start(t)
	status, body := get(t, "/v1/languages")
	if status != 200 {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	var list []struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Aliases   []string `json:"aliases"`
		Version   string   `json:"version"`
		Available bool     `json:"available"`
		Problem   string   `json:"problem"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	byID := map[string]int{}
	for i, l := range list {
		byID[l.ID] = i
	}
	for _, id := range []string{"c", "cpp", "go", "java", "kotlin", "node", "python", "rust", "typescript"} {
		i, ok := byID[id]
		if !ok {
			t.Errorf("language %s missing from %s", id, body)
			continue
		}
		l := list[i]
		if !l.Available || l.Name == "" || l.Version == "" {
			t.Errorf("language %s: available=%v name=%q version=%q problem=%q", id, l.Available, l.Name, l.Version, l.Problem)
		}
	}
	if i, ok := byID["node"]; ok && !(contains(list[i].Aliases, "js") && contains(list[i].Aliases, "javascript")) {
		t.Errorf("node aliases = %v, want js and javascript", list[i].Aliases)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSandboxStatus(t *testing.T) {
	start(t)
	status, body := get(t, "/v1/manager/sandbox-status")
	if status != 200 {
		t.Fatalf("HTTP %d: %s", status, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	for _, k := range []string{"available_sandboxes", "idle_sandboxes", "running_sandboxes", "error_sandboxes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("field %s missing: %s", k, body)
		}
	}
	var st struct {
		Available int `json:"available_sandboxes"`
		Idle      int `json:"idle_sandboxes"`
		Running   int `json:"running_sandboxes"`
		Error     int `json:"error_sandboxes"`
		Starting  int `json:"starting_sandboxes"`
		Queue     int `json:"queue_length"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	// Other tests run concurrently, so idle/running vary; but a healthy
	// pool of 2 has both sandboxes up and none broken.
	if st.Idle < 0 || st.Running < 0 || st.Queue < 0 || st.Available != st.Idle+st.Running ||
		st.Available != 2 || st.Error != 0 || st.Starting != 0 {
		t.Errorf("implausible status for a healthy pool of 2: %s", body)
	}
}

func TestHealthAndVersion(t *testing.T) {
	start(t)
	status, body := get(t, "/v1/health")
	if status != 200 {
		t.Errorf("health: HTTP %d %q", status, body)
	}
	status, body = get(t, "/v1/version")
	if status != 200 || len(strings.TrimSpace(string(body))) == 0 {
		t.Errorf("version: HTTP %d %q", status, body)
	}
}
