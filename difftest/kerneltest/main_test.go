package kerneltest

import (
	"testing"

	"specvma/internal/testsupport"
)

// TestMain ends the run with a one-line summary of the tests skipped for
// want of root, tracefs, gcc or Linux (testsupport.Main), and removes the
// multi-process backend's agent.
func TestMain(m *testing.M) { testsupport.Main(m, RemoveAgent) }
