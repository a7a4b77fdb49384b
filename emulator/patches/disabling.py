"""DisableImage takes every launch permission away, and EnableImage gives none back (moto 5.2.5 only
flips the state, so an AMI shared with accounts, organizations or OUs stayed shared while disabled and
was shared again, as if nothing had happened, once re-enabled).

AWS, DisableImage: "Sets the AMI state to `disabled` and removes all launch permissions from the AMI.
A disabled AMI can't be used for instance launches. A disabled AMI can't be shared. If an AMI was public
or previously shared, it is made private. If an AMI was shared with an AWS account, organization, or
Organizational Unit, they lose access to the disabled AMI. [...] Only the AMI owner can disable an AMI."
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html
"Disable an AMI": "Warning: Disabling an AMI removes all its launch permissions." When an AMI is
re-enabled: "The AMI can be shared. AWS accounts, organizations, and Organizational Units that lost
access to the AMI when it was disabled do not regain access automatically, but the AMI can be shared
with them again." https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html

Kept from moto: the state change, InvalidAMIID.NotFound for an AMI the caller does not own (another
account's AMI is not in the caller's backend, so only the owner disables), EnableImage itself (it
leaves the now empty launch permissions as they are). Sharing a disabled AMI is refused in
org_sharing.modify_image_attribute: its code is undocumented, IncorrectState chosen (EC2's code for a
resource in the wrong state for the request, errors-overview.html).
"""

from __future__ import annotations

from moto.ec2.models import EC2Backend

from . import replaces

_moto_disable_image = EC2Backend.disable_image


@replaces(EC2Backend, "disable_image")
def disable_image(self: EC2Backend, ami_id: str) -> None:
    """Disabled, and private: every account, organization, OU and `all` loses its launch permission."""
    _moto_disable_image(self, ami_id)
    self.amis[ami_id].launch_permissions.clear()
