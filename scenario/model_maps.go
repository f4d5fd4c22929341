package scenario

import (
	"errors"

	"specvma/mm"
)

// renderMaps renders as like /proc/PID/maps.
//
// TODO(scenario): call procfs.Maps(as) once package procfs provides it.
func renderMaps(as *mm.AddressSpace) (string, error) {
	_ = as
	return "", errors.New("procfs.Maps is not available yet")
}
