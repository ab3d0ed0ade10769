# A misspelt field would otherwise be ignored, and bob would get no keys.
# expect: user "bob": unknown field "sshkeys" (did you mean "sshKeys"?): allowed fields are admin, description, maxContainers, sshKeys, uid
{
  bob = {
    uid = 1002;
    sshkeys = [ "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA bob@laptop" ];
  };
}
