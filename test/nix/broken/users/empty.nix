# A host with no users is a mistake in the file, not a configuration.
# expect: devbox-quadlet users.nix: no users
{ }
