//! The open-files limit: every held session, patrol probe and listening port is a socket, and
//! the common default soft limit (1,024) is too few for a district's fleet.

/// Raises the soft open-files limit to the hard one and warns when it is still below `wanted`.
/// `who` names the process in the warning (`daemon`, `sim`).
pub fn raise(wanted: usize, who: &str) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed, which outlives the calls.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    if usize::try_from(lim.rlim_cur).is_ok_and(|cur| cur < wanted) {
        tracing::warn!(
            limit = lim.rlim_cur,
            wanted,
            "{who}: the open-files limit is low for this fleet (raise the hard limit: ulimit -Hn, LimitNOFILE)"
        );
    }
}
