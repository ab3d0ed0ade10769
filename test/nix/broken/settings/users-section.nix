# Per-user settings have one home, users.nix.
# expect: devbox-quadlet settings: users: per-user settings come from users.nix
{
  users.alice.admin = true;
}
