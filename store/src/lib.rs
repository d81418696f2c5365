//! k3rs-store: the datastore.
