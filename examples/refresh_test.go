package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefreshUnits checks examples/refresh: the service and the timer
// with systemd-analyze verify (no complaint at all), and that the service
// and the Windows task run oat refresh on a store with a passphrase file.
func TestRefreshUnits(t *testing.T) {
	svc, err := os.ReadFile(filepath.Join("refresh", "oat-refresh.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svc), "ExecStart=/usr/local/bin/oat refresh \\\n    --store ") || !strings.Contains(string(svc), "--passphrase-file") {
		t.Fatal("the service does not run oat refresh --store ... --passphrase-file")
	}
	task, err := os.ReadFile(filepath.Join("refresh", "schtasks.cmd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(task), `schtasks /create /tn "oat refresh" /sc daily`) || !strings.Contains(string(task), `oat.exe\" refresh --store`) {
		t.Fatal("the Windows task does not run oat refresh daily")
	}
	analyze := tool(t, "systemd-analyze", false)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	timer, err := os.ReadFile(filepath.Join("refresh", "oat-refresh.timer"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "oat-refresh.service"), []byte(strings.ReplaceAll(string(svc), "/usr/local/bin/oat", self)), 0o644)
	os.WriteFile(filepath.Join(dir, "oat-refresh.timer"), timer, 0o644)
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "oat-refresh.service"), filepath.Join(dir, "oat-refresh.timer")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
