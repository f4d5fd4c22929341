package errno

import "testing"

func TestNames(t *testing.T) {
	for e, name := range names {
		if e.String() != name || e.Result() != "-"+name {
			t.Errorf("%d: %s %s", int(e), e.String(), e.Result())
		}
		if back, ok := Parse(name); !ok || back != e {
			t.Errorf("Parse(%s) = %v %v", name, back, ok)
		}
	}
	if Errno(999).String() != "errno 999" {
		t.Error(Errno(999).String())
	}
	if e, ok := Of(EINVAL); !ok || e != EINVAL {
		t.Error("Of")
	}
}
