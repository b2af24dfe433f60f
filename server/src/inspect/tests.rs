//! Scenarios of the inspection tools over files a real node, or a hand-made etcd WAL, wrote.
