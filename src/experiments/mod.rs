//! The experiments, one file each. Each file holds the socket calls a reader
//! must see, in order, between the anchors its chapter includes; its binary
//! in `src/bin/` only calls its `main`. Every file here is a module: the
//! line below declares them all.

automod::dir!(pub "src/experiments");
