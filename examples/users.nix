# examples/users.nix: an example of the file a team keeps to say who gets
# dev containers on a devbox-quadlet host. Each entry becomes a login user
# on the host (uid, SSH keys, subuid range) and a [users.NAME] table in
# /etc/devbox-quadlet/config.toml. nix/lib/users.nix checks it.
#
# The keys below are placeholders (base64 of zero bytes), valid in form only:
# put each person's real public key (the .pub file) in their place.
{
  # The attribute name is the login name: a lowercase letter or _, then up
  # to 31 lowercase letters, digits, _ or -.
  alice = {
    # Required, and fixed: files in home directories and containers belong to
    # this number, and the subuid range is derived from it. 1000 to 59999,
    # unique across the file.
    uid = 1001;
    # Optional, default false. Admins may ask the host agent about every
    # user's containers (list --all) and repair its ledger (docs/agent.md).
    admin = true;
    # Optional, default []. Public keys for SSH logins to the host.
    sshKeys = [
      "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA alice@laptop-placeholder"
    ];
    # Optional, default null (the host's caps.max_per_user applies). How
    # many containers this user may have, from 1 to 100000.
    maxContainers = 5;
    # Optional, default "". The account's full name (the GECOS field), so no
    # ':' and no line break.
    description = "Alice Example";
  };

  bob = {
    uid = 1002;
    sshKeys = [
      "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA bob@desktop-placeholder"
      "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA bob@laptop-placeholder"
    ];
  };

  carol = {
    uid = 1003;
    sshKeys = [
      "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA carol@laptop-placeholder"
    ];
    description = "Carol Example";
  };
}
