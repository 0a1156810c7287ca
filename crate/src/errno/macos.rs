//! macOS (Darwin, XNU `bsd/sys/errno.h`) errno numbers to libuv's names.
//!
//! On Unix libuv's codes are the negated errno, so an errno gets a name exactly when libuv
//! (1.46, as bundled with Node 20) defines a UV_E* code for that errno constant. Left out:
//! - EOPNOTSUPP (102): a distinct errno on Darwin, and libuv has no UV_EOPNOTSUPP (its
//!   UV_ENOTSUP is ENOTSUP, 45), so Node reports 102 as unknown.
//! - ENONET, EREMOTEIO, EUNATCH: Darwin has no such errno; libuv uses private numbers.
//! - ENOEXEC (8): named only from libuv 1.48, kept out as on Linux.
//! - EDQUOT (69), ESTALE (70): libuv has no name for them.
//!
//! EFTYPE (79) is in: Darwin defines it, and libuv's UV_EFTYPE is then the negated errno.

/// (errno, libuv name), sorted by errno.
pub(super) const TABLE: &[(i32, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (9, "EBADF"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (34, "ERANGE"),
    // EWOULDBLOCK is the same number.
    (35, "EAGAIN"),
    (37, "EALREADY"),
    (38, "ENOTSOCK"),
    (39, "EDESTADDRREQ"),
    (40, "EMSGSIZE"),
    (41, "EPROTOTYPE"),
    (42, "ENOPROTOOPT"),
    (43, "EPROTONOSUPPORT"),
    (44, "ESOCKTNOSUPPORT"),
    (45, "ENOTSUP"),
    (47, "EAFNOSUPPORT"),
    (48, "EADDRINUSE"),
    (49, "EADDRNOTAVAIL"),
    (50, "ENETDOWN"),
    (51, "ENETUNREACH"),
    (53, "ECONNABORTED"),
    (54, "ECONNRESET"),
    (55, "ENOBUFS"),
    (56, "EISCONN"),
    (57, "ENOTCONN"),
    (58, "ESHUTDOWN"),
    (60, "ETIMEDOUT"),
    (61, "ECONNREFUSED"),
    (62, "ELOOP"),
    (63, "ENAMETOOLONG"),
    (64, "EHOSTDOWN"),
    (65, "EHOSTUNREACH"),
    (66, "ENOTEMPTY"),
    (78, "ENOSYS"),
    (79, "EFTYPE"),
    (84, "EOVERFLOW"),
    (89, "ECANCELED"),
    (92, "EILSEQ"),
    (96, "ENODATA"),
    (100, "EPROTO"),
];
