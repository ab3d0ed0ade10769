# Two keys pasted into one string would become one broken authorized_keys line.
# expect: user "bob": sshKeys[0]: contains a line break
{
  bob = {
    uid = 1002;
    sshKeys = [
      ''
        ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA bob@laptop
        ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA bob@desktop
      ''
    ];
  };
}
