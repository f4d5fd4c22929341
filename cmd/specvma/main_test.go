package main

import (
	"testing"

	"specvma/internal/testsupport"
)

// TestMain ends the run with a one-line summary of the tests skipped for
// want of root, tracefs, gcc or Linux (testsupport.Main).
func TestMain(m *testing.M) { testsupport.Main(m) }
