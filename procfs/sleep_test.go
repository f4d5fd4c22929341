package procfs

import "time"

func sleepMillis(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
