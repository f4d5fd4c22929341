package mm

import "specvma/errno"

// Short names for the errnos the operations return.
var (
	eperm      error = errno.EPERM
	ebadf      error = errno.EBADF
	enomem     error = errno.ENOMEM
	eacces     error = errno.EACCES
	efault     error = errno.EFAULT
	enodev     error = errno.ENODEV
	eexist     error = errno.EEXIST
	einval     error = errno.EINVAL
	eoverflow  error = errno.EOVERFLOW
	eopnotsupp error = errno.EOPNOTSUPP
	eagain     error = errno.EAGAIN
)
