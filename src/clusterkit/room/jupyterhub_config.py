"""The room's JupyterHub configuration, read by `jupyterhub -f` (started by `python -m clusterkit.room serve`).

Every choice comes from the settings `serve` saved in the state folder ($CLUSTERKIT_ROOM_STATE); nothing here is
meant to be edited for a room (see INSTRUCTORS.md, "The room", for a real site).
"""
import os
import sys

from clusterkit.room.settings import PROXY, STATE_ENV, RoomSettings

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
room = RoomSettings.load(os.environ[STATE_ENV])
state = room.state

# in the practice cluster the proxy listens on node1's own 127.0.0.1, where the forwarder brings the room's browsers
c.JupyterHub.ip, c.JupyterHub.port = ("127.0.0.1" if room.in_practice_cluster else room.ip), room.port
c.JupyterHub.hub_ip, c.JupyterHub.hub_port = room.hub_ip, room.hub_port
if room.hub_connect_ip:
    c.JupyterHub.hub_connect_ip = room.hub_connect_ip
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{room.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = (state / "proxy_token").read_text().strip()
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server
c.JupyterHub.template_vars = {"announcement_login": f"The workshop's room: {room.seats} seat(s). Log in with the "
                                                    "learner account your instructor gave you."}

c.JupyterHub.authenticator_class = "clusterkit.room.hub.RoomAuthenticator"
c.RoomAuthenticator.allow_all = True  # authenticate() admits only the room's group, and only while a seat is free
c.RoomAuthenticator.open_sessions = False
c.RoomAuthenticator.room_group = room.group
c.RoomAuthenticator.seats = room.seats
c.RoomAuthenticator.seat_map_file = str(state / "seats.json")

c.JupyterHub.spawner_class = {"local": "clusterkit.room.hub.LocalRoomSpawner",
                              "slurm": "clusterkit.room.slurm_spawner.SlurmRoomSpawner"}[room.spawner]
c.SeatSpawner.seats = room.seats
c.SeatSpawner.seat_map_file = str(state / "seats.json")
c.SeatSpawner.minimum_cpus = room.minimum_cpus
c.SlurmRoomSpawner.req_nprocs = str(room.minimum_cpus)
c.SlurmRoomSpawner.req_runtime = str(room.job_minutes)
c.SlurmRoomSpawner.req_options = room.slurm_options
c.SlurmRoomSpawner.job_output_dir = str(room.job_output)
c.Spawner.start_timeout = c.Spawner.http_timeout = room.spawn_timeout
c.Spawner.default_url = "/lab"

idle_seconds = int(room.idle_minutes * 60)
c.JupyterHub.services = [
    {"name": "idle-culler", "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle_seconds}",
                                        f"--cull-every={max(5, min(60, idle_seconds // 2))}"]},
    {"name": "instructor-view", "api_token": (state / "instructor_token").read_text().strip()},
]
c.JupyterHub.load_roles = [
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    {"name": "instructor-view", "services": ["instructor-view"],
     "scopes": ["list:users", "read:users", "read:servers", "admin:server_state"]},
]
