package main

import (
	"strings"
	"testing"
)

func TestReportSkips(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"example.com/oat/portal","Test":"TestBrowser"}`,
		`{"Action":"output","Package":"example.com/oat/portal","Test":"TestBrowser","Output":"=== RUN   TestBrowser\n"}`,
		`{"Action":"output","Package":"example.com/oat/portal","Test":"TestBrowser","Output":"    browser_test.go:64: no Chromium at /usr/bin/chromium (set OAT_TEST_CHROMIUM); skipping the browser test\n"}`,
		`{"Action":"output","Package":"example.com/oat/portal","Test":"TestBrowser","Output":"--- SKIP: TestBrowser (0.00s)\n"}`,
		`{"Action":"skip","Package":"example.com/oat/portal","Test":"TestBrowser"}`,
		`{"Action":"output","Package":"example.com/oat/portal","Output":"ok  \texample.com/oat/portal\t0.1s\n"}`,
		`{"Action":"output","Package":"example.com/oat/desk","Test":"TestA/postgres","Output":"    ledgertest.go:40: OAT_TEST_POSTGRES is not set: the PostgreSQL half did not run\n"}`,
		`{"Action":"skip","Package":"example.com/oat/desk","Test":"TestA/postgres"}`,
		`{"Action":"output","Package":"example.com/oat/desk","Test":"TestB/postgres","Output":"    ledgertest.go:40: OAT_TEST_POSTGRES is not set: the PostgreSQL half did not run\n"}`,
		`{"Action":"skip","Package":"example.com/oat/desk","Test":"TestB/postgres"}`,
		`{"Action":"output","Package":"example.com/oat/desk","Test":"TestC","Output":"    desk_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"example.com/oat/desk","Test":"TestC"}`,
		`{"Action":"output","Package":"example.com/oat/desk","Output":"FAIL\texample.com/oat/desk\t0.2s\n"}`,
		`{"Action":"fail","Package":"example.com/oat/desk"}`,
	}, "\n")
	var out strings.Builder
	failed, err := report(strings.NewReader(in), &out)
	if err != nil || !failed {
		t.Fatalf("failed %v, err %v", failed, err)
	}
	want := "ok  \texample.com/oat/portal\t0.1s\n" +
		"    desk_test.go:9: boom\n" +
		"FAIL\texample.com/oat/desk\t0.2s\n" +
		"SKIPPED 2 tests (desk TestA/postgres, ...): OAT_TEST_POSTGRES is not set: the PostgreSQL half did not run\n" +
		"SKIPPED portal TestBrowser: no Chromium at /usr/bin/chromium (set OAT_TEST_CHROMIUM); skipping the browser test\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
