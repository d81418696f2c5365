//! k3rs-actors: the actor tree.
