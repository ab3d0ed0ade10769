package tailnet

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	tailscale "tailscale.com/client/tailscale/v2"
)

func TestMatch(t *testing.T) {
	devs := []tailscale.Device{
		{NodeID: "n1", Hostname: "demo", Name: "demo.tail1.ts.net", Tags: []string{"tag:devcontainer", "tag:alice-container"}},
		{NodeID: "n2", Hostname: "other", Name: "demo.tail1.ts.net", Tags: []string{"tag:alice-container"}},    // renamed in MagicDNS
		{NodeID: "n3", Hostname: "demo", Name: "demo-1.tail1.ts.net", Tags: []string{"tag:bob-container"}},     // bob's
		{NodeID: "n4", Hostname: "demo", Name: "demo-2.tail1.ts.net", Tags: nil},                               // a person's laptop
		{NodeID: "n5", Hostname: "demo2", Name: "demo2.tail1.ts.net", Tags: []string{"tag:alice-container"}},   // another name
		{NodeID: "n6", Hostname: "demo", Name: "demo-3.tail1.ts.net", Tags: []string{"tag:alice-container-x"}}, // near miss
	}
	var ids []string
	for _, d := range Match(devs, "demo", "alice") {
		ids = append(ids, d.NodeID)
	}
	if want := []string{"n1", "n2"}; !slices.Equal(ids, want) {
		t.Errorf("Match = %v, want %v", ids, want)
	}
}

// fakeAPI serves the three endpoints the client uses: the OAuth token, the
// device list and device delete, as the public Tailscale API documents them.
type fakeAPI struct {
	mu      sync.Mutex
	devices []tailscale.Device
	deleted []string
	auth    []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/oauth/token":
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "client-1" || secret != "oauth-secret-CANARY" {
			http.Error(w, `{"message":"bad client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at-1","token_type":"Bearer","expires_in":3600}`))
	case r.Header.Get("Authorization") != "Bearer at-1":
		http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/tailnet/-/devices":
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"devices": f.devices})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v2/device/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/v2/device/")
		f.deleted = append(f.deleted, id)
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
	}
}

func TestForgetAgainstLocalAPI(t *testing.T) {
	fake := &fakeAPI{devices: []tailscale.Device{
		{NodeID: "n1", Hostname: "demo", Name: "demo.tail1.ts.net", Tags: []string{"tag:devcontainer", "tag:alice-container"}},
		{NodeID: "n3", Hostname: "demo", Name: "demo-1.tail1.ts.net", Tags: []string{"tag:bob-container"}},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	api, err := New(srv.URL, "-", "client-1", "oauth-secret-CANARY")
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.Forget(context.Background(), "demo", "alice")
	if err != nil || got != 1 {
		t.Fatalf("Forget = %d, %v, want 1 device deleted", got, err)
	}
	if !slices.Equal(fake.deleted, []string{"n1"}) {
		t.Errorf("deleted %v, want [n1]", fake.deleted)
	}
	if got, err := api.Forget(context.Background(), "gone", "alice"); err != nil || got != 0 {
		t.Errorf("Forget(gone) = %d, %v, want none deleted", got, err)
	}

	bad, _ := New(srv.URL, "-", "client-1", "wrong-secret")
	_, err = bad.Forget(context.Background(), "demo", "alice")
	if err == nil {
		t.Fatal("a wrong OAuth secret was accepted")
	}
	if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "CANARY") {
		t.Errorf("error shows the secret: %v", err)
	}
	if _, err := New("file:///etc/passwd", "-", "a", "b"); err == nil {
		t.Error("a file URL was accepted")
	}
}
