# Two users with one uid would own each other's files.
# expect: devbox-quadlet users.nix: user "bob": uid 1001 is also used by "alice"
{
  alice = {
    uid = 1001;
  };
  bob = {
    uid = 1001;
  };
}
