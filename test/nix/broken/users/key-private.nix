# The mistake that matters most: a private key in a shared file.
# expect: user "bob": sshKeys[0]: this is a private key: use the public key (the .pub file)
{
  bob = {
    uid = 1002;
    sshKeys = [ "-----BEGIN OPENSSH PRIVATE KEY-----" ];
  };
}
