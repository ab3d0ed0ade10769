# Extra admins (the module's option) must be users in users.nix.
# expect: devbox-quadlet users.nix: admin "dave" is not in users.nix
[ "dave" ]
