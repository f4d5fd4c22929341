// Package safety holds the mutation harness for the safety steps of the
// lockless paths in mm, uprobes and procfs.
//
// Every check, ordering and wait those paths depend on is marked in the
// source with a comment tag, "// safety:NAME" (a step may span several
// lines, each tagged), and listed in the table of its package's doc
// (mm/doc.go, uprobes/doc.go, procfs/doc.go) with what it protects
// against and the test that shows it. The table in steps_test.go says, for each tag, how to
// remove the step (text replacements confined to the tagged lines) and
// which tests must then fail.
//
// TestTagsMatchTable runs with every `go test`: each tag in the source has
// a row here and in its package doc naming the same test, and each row's
// replacements apply. TestMutants runs only with SPECVMA_MUTANTS=1 (it
// builds one test binary per step): it runs the named tests on the
// unmodified code, which must pass, then, for each step, on a temporary
// copy of the step's file with the step removed (go test -overlay), which
// must fail:
//
//	SPECVMA_MUTANTS=1 go test -v -run TestMutants -timeout 30m ./internal/safety/
//
// SPECVMA_MUTANTS=tag1,tag2 runs only those steps. Nothing here runs in the
// code under test: the tags are comments.
package safety
