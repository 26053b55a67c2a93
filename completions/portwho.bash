_portwho() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="portwho"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        portwho)
            opts="-l -a -t -u -4 -6 -p -c -U -n -q -v -y -h -V --listening --all --tcp --udp --ipv4 --ipv6 --pid --command --user --numeric --no-owners --netns --json --jsonl --prometheus --output --watch --quiet --color --forwards --audit --fail-on --diff --verbose --kill --signal --yes --timeout --free --count --wait-listen --wait-free --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --command)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -U)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --netns)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --output)
                    local oldifs
                    if [ -n "${IFS+x}" ]; then
                        oldifs="$IFS"
                    fi
                    IFS=$'\n'
                    COMPREPLY=($(compgen -f "${cur}"))
                    if [ -n "${oldifs+x}" ]; then
                        IFS="$oldifs"
                    fi
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o filenames
                    fi
                    return 0
                    ;;
                --watch)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --fail-on)
                    COMPREPLY=($(compgen -W "low medium high" -- "${cur}"))
                    return 0
                    ;;
                --diff)
                    local oldifs
                    if [ -n "${IFS+x}" ]; then
                        oldifs="$IFS"
                    fi
                    IFS=$'\n'
                    COMPREPLY=($(compgen -f "${cur}"))
                    if [ -n "${oldifs+x}" ]; then
                        IFS="$oldifs"
                    fi
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o filenames
                    fi
                    return 0
                    ;;
                --signal)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --free)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

# Service names for TARGET after ':' (portwho :postg<Tab>), from portwho's table.
_portwho_target() {
    # The word under the cursor as typed: bash splits `:postg` into `:` and `postg` when
    # ':' is in COMP_WORDBREAKS, as it is by default.
    local line="${COMP_LINE:0:COMP_POINT}"
    local word="${line##*[[:space:]]}"
    if [[ "${word}" != *:* || "${word}" == -* ]]; then
        _portwho "$@"
        return
    fi
    local names="
1ci-smcs 2ping 3com-amp3 3com-net-mgmt 3com-njack-1 3com-njack-2 3Com-nsd 3com-tsmux 3com-webview
3comfaxrpc 3comnetman 3d-nfsd 3ds-lm 3exmp 3gpp-cbsp 3gpp-monp 3l-l1 3link 3m-image-lm 3par-evts
3par-mgmt 3par-mgmt-ssl 3par-rcopy 4-tieropmcli 4-tieropmgw 4talk 5afe-dir 5afe-disc 6a44
802-11-iapp 9pfs a-trust-rpc a1-bs a1-msc a13-an a14 a15 a16-an-an a17-an-an a21-an-1xbs a26-fap-fgw
a27-ran-ran a3-sdunode a4-sdunode aairnet-1 aairnet-2 aal-lm aamp aap aas abacus-remote abarsd
abatemgr abatjss abb-escp abb-hw abbaccuray abbs abcsoftware abcvoice-port about abr-api abr-secure
ac-cluster ac-tech acap acas acc-raid accel accelenet accelenet-data accessbuilder accessnetwork
accord-mgc acctopus-cc acctopus-st accu-lmgr accuracer accuracer-dbms acd-pm ace-client ace-proxy
ace-server ace-svr-prop aci acis acl-manager acmaint_dbd acmaint_transd acme acmsoda acnet acp
acp-conduit acp-discovery acp-policy acp-port acp-proto acplt acptsys acr-nema acronis-backup acter
actifio-c2c actifioreplic actifioudsagent activememory activesync actnet ada-cip adap adapt-sna
adaptecmgr adcp adi-gxp-srvprt admind admins-lms adobeserver-1 adobeserver-2 adobeserver-3
adobeserver-4 adobeserver-5 adrep ads ads-s adtech-test adtempusclient advant-lm adws aed-512 aegate
aequus aequus-alt aero aeroflight-ads aeroflight-ret aes-discovery aes-x170 aesop af afesc-mc
affiliate afore-vdp-disc afpovertcp afrog afs afs3-bos afs3-callback afs3-errors afs3-fileserver
afs3-kaserver afs3-prserver afs3-rmtsys afs3-update afs3-vlserver afs3-volser aftmux ag-swim agcat
agentsease-db agentview agentx agma agpolicy agps-port agri-gateway agriserver agslb agtp agtp-quic
ah-esp-encap ahsp aiagent aibkup aic-np aic-oncrpc aicc-cmi aigairserver ailith aimpp-hello
aimpp-port-req aipn-auth aipn-reg aironetddp airs airshot airsync ais-met aises aja-ntv4-disc
aker-cdp alaris-disc alarm alarm-clock-c alarm-clock-s alchemy alesquery alfin alias alljoyn
alljoyn-mcm alljoyn-stm allpeers allstorcns almobile-system alpes alpha-sms alphatech-lm alta-ana-lm
altalink altav-remmgt altav-tunnel altbsdp altcp altova-lm altova-lm-disc altovacentral
altserviceboot amahi-anywhere amanda amberon ambit-lm amc amcs amdsched ami-control amicon-fpsu-ra
amicon-fpsu-s amiganetfs aminet amp ampify ampl-lic ampl-tableproxy ampr-info ampr-inter ampr-rcmd
amqp amqps ams amt amt-blc-port amt-cnf-prot amt-esd-prot amt-redir-tcp amt-redir-tls amt-soap-http
amt-soap-https amx-axbnet amx-icsp amx-rms amx-webadmin amx-weblinx an-pcp an-signaling and-lm anet
anet-b anet-h anet-l anet-m anoto-rendezv ans-console ansanotify ansatrader ansoft-lm-1 ansoft-lm-2
answersoft-lm ansys-lm ansysli ansyslmd anthony-data antidotemgrsvr aoc-acars aocp aodv aol aol-1
aol-2 aol-3 ap apani1 apani2 apani3 apani4 apani5 apc-2160 apc-2161 apc-2260 apc-3052 apc-3506
apc-5454 apc-5455 apc-5456 apc-6547 apc-6548 apc-6549 apc-7845 apc-7846 apc-9950 apc-9951 apc-9952
apc-necmp apcupsd apdap apertus-ldp apex-edge apex-mesh aplx apm-link apocd apogeex-port
apollo-admin apollo-cc apollo-data apollo-gms apollo-relay apollo-status apparenet-as apparenet-tps
apparenet-ts apparenet-ui appiq-mgmt apple-licman apple-sasl apple-vpns-rp appleqtc appleqtcsrvr
appleugcontrol appliance-cfg applus applusservice appman-server appserv-http appserv-https appss-lm
appswitch-emp appworxsrv apri-lm aprigo-cs apsolab-col apsolab-cols apsolab-data apsolab-rpc
apsolab-tag apsolab-tags apw-registry apwi-disc apwi-imserver apwi-rxserver apwi-rxspooler
apx500api-1 apx500api-2 arbortext-lm arca-api arcisdms arcp arcpd ardt ardus-cntl ardus-mtrns
ardus-trns ardusmul ardusuni areaguard-neo arena-server arepa-cas arepa-raft argis-ds argis-te aria
ariascribe ariel1 ariel2 ariel3 aries-kfinder ariliamulti aritts arkivio armadp armagetronad
armcenterhttp armcenterhttps armi-server armtechdaemon arns array-manager ars-master ars-vista
artifact-msg aruba-papi aruba-server as-debug as-servermap asa asa-gateways asam asap-tcp
asap-tcp-tls asap-udp asc-slmd asci-val ascomalarm asctrl-agent asdis asf-rmcp asf-secure-rmcp
asgcypresstcps asgenf asi asia asihpi asip-webadmin asipregistry asmgcs asmp asmp-mon asmps
asnaacceler8db asoki-sma aspcoordination aspeclmd aspen-services aspentec-lm asprovatalk asr
assoc-disc assuria-ins assuria-slm assyst-dr astergate astergate-disc astergatefax asterix astrolink
astronova-main at-3 at-5 at-7 at-8 at-echo at-nbp at-rtmp at-zis atc-appserver atc-lm atex_elmd
athand-mmp ati-ip-to-ncpe atlinks atm-uhas atm-zip-office atmp atmtcp ats ats-acars ats-atn
atsc-mh-ssc att-mt-sms attachmate-g32 attachmate-s2s attachmate-uts attune atul audio-activmail
audiojuggler audit audit-transfer auditd aura auriga-router auris aurora aurora-balaena aurora-cmgr
aurp auth authentx authoritygate autobuild autocueds autocuelog autocuesmi autocuetime autodesk-lm
autodesk-nlm autonoc autopac autopassdaemon autotrac-acp av-emb-config availant-mgr avantageb2b
avanti_cdp avauthsrvprtcl avdecc avenue avenyo avesterra avian avinstalldisc aviva-sna avocent-adsap
avocent-proxy avsecuremgmt avt-profile-1 avt-profile-2 avtp awacs-ice awg-proxy aws-as2 aws-brf
aws-wsp axio-disc axis-wimp-port axon-lm axon-tunnel axysbridge ayiya azeti azeti-bd aztec
b-novative-ls b2-license b2-runtime b2n babel babel-dtls backburner backroomnet backup-express
backupedge bacnet bacula-dir bacula-fd bacula-sd badm_priv badm_pub bandwiz-system banyan-net
banyan-rpc banyan-vip barracuda-bbs base batman bb bbars bbn-mmc bbn-mmx bccp bcinameservice bcs
bcs-broker bcs-lmserver bcslogc bctp bctp-server bdir_priv bdir_pub bdp beacon-port beacon-port-2
bears-01 bears-02 beeyond beeyond-media bencher beorl berknet BESApi beserver-msg-q bess
bex-webadmin bex-xr beyond-remote bf-game bf-master bfd-control bfd-echo bfd-lag bfd-multi-ctl
bflckmgr bftp bgmp bgp bgs-nsi bh611 bhevent bhfhs bhmds bhoedap4 bhoetty biap-mp bid-serv bif-p2p
biff biimenu bilobit bilobit-update bim-pem binderysupport bingbang binkp bintec-admin bintec-capi
bintec-tapi biolink-auth bioserver biotic bip bis-sync bis-web bitforestsrv bitspeer bl-idm
blackboard blackjack blaze blizwow blockade blockade-bpsp blocks blp1 blp2 blp3 blp4 blp5
blueberry-lm bluectrlproxy bluelance blwnkl-port bmap bmc-ar bmc-data-coll bmc-ea bmc-gms bmc-grx
bmc-jmx-port bmc-messaging bmc-net-adm bmc-net-svc bmc-onekey bmc-perf-agent bmc-perf-mgrd
bmc-perf-sd bmc-reporting bmc_ctd_ldap bmc_patroldb bmcpatrolagent bmcpatrolrnvu bmdss bmpp bnet
bnetfile bnetgame bngsync bnt-manager board-roar board-voip boinc-client boks boks_clntd boks_servc
boks_servm boldsoft-lm bolt bones boomerang boosterware bootclient bootpc bootps bootserver
borland-dsj boscap bosswave bounzza boxbackupstore boxp bpcd bpcp-poll bpcp-trap bpdbm bpjava-msvc
bpmd bprd br-channel brain brcd brcd-vr-req brcm-comm-port brdptc bre brf-gw bridgecontrol
brightcore brlp-0 brlp-1 brlp-2 brlp-3 broker_service brp bruce brutus brvread bsfserver-zn
bsfsvr-zn-ssl bspne-pcc bsquare-voip btpp2audctr1 btpp2sectrans btprjctrl btrieve bts-appserver
bts-x73 buddy-draw bues_service bullant-rap bullant-srap burp busboy buschtrommel business busycal
bv-agent bv-ds bv-is bv-queryengine bv-smcsrv bvcdaemon-port bvcontrol bveapi bvtsonar bxp bytex
bzflag bzr c-h-it-port c1222-acse c3 ca-1 ca-2 ca-audit-da ca-audit-ds ca-idms ca-web-update
caaclang2 caacws cab-protocol cableport-ax cabsm-comm caci-lm cacsambroker cadabra-lm cadencecontrol
cadis-1 cadis-2 cadkey-licman cadkey-tablet cadlock cadlock2 cadsi-lm cadsisvr cadview-3d caerpc
caevms caicci caiccipc caids-sensor CAIlic caistoragemgr cajo-discovery cal caldsoft-backup
call-logging call-sig-trans caller9 calltrax callwaveiam camac cambertx-lm camp can-dch can-ferret
can-ferret-ssl can-nds can-nds-ssl canditv candp candrp canex-watch canit_store canocentral0
canocentral1 canon-bjnp1 canon-bjnp2 canon-bjnp3 canon-bjnp4 canon-capt canon-cpp-disc canon-mfnp
canto-roboflow cap capfast-lmd capioverlan capmux caps-lm capwap-control capwap-data carb-repl-ctrl
cardax cardbox cardbox-http cardifftec-back CardWeb-IO CardWeb-RT carrius-rshell cart-o-rama
cartographerxmp cas cas-mapi casanswmgmt casp caspssl casrmagent castorproxy catalyst catchpole
caupc-remote cautcpd cawas cba8 cbos-ip-port cbp cbserver cbt cbus cc-tracking ccag-pib ccm-port
ccmad ccmail ccmcomm ccmrmi ccnx ccowcmr ccp ccs-software ccss-qmm ccss-qsm cctv-port ccu-comm-1
ccu-comm-2 ccu-comm-3 cd3o-protocol cdbroker cdc cddbp cddbp-alt cdfunc cdid cdl-server cdn cds
cecsvc cedros_fds cefd-vmp celatalk centerline centra ceph cequint-cityid cera-bcm cernsysmgmtagt
cert-initiator cert-responder cesdcdman cesdcdtrn cesdinv cfdptkt cfengine cfg-cloud cfs cft-0 cft-1
cft-2 cft-3 cft-4 cft-5 cft-6 cft-7 cfw cgi-starapi cgms cgn-config cgn-stat chargen charsetmgr
checkmk-agent checkoutdb checkpoint-rtm checksum chevinservices childkey-ctrl childkey-notif
chimera-hwm chip-lm chipper chlenix chmd choiceview-agt choiceview-clt chromagrafx chshell
cichild-lm cichlid cifs cim-rs cimple cimplex cimtrak cindycollab cinegrfx-elmd cinegrfx-lm
ciphire-data ciphire-serv circle-x cirrossp cis cis-secure cisco-aqos cisco-avp cisco-cloudsec
cisco-fna cisco-ipsla cisco-net-mgmt cisco-redu cisco-sccp cisco-snat cisco-sys cisco-tdp cisco-tna
cisco-vpath-tun cisco-wafs ciscocsdb citadel citrix-rtmp citrixadmin citrixima citriximaclient
citrixupp citrixuppg citynl cl-db-attach cl-db-remote cl-db-request clariion-evr01 classic
cleanerliverc clearcase clearvisn clever-ctrace clever-tcpip cleverdetect client-ctrl client-wakeup
cloanto-lm cloanto-net-1 close-combat cloudcheck cloudcheck-ping cloudsignaling clp cluster-disc
clusterxl clutild clvm-cfg cma cmadmin cmc-port cmip-agent cmip-man cmmdriver cmtp-av cmtp-mgt cnap
cnckadserver cncp cnhrp cnrp cnrprotocol cns-srv-port coap coaps coauthor cockroach codaauth2
codasrv codasrv-se codemeter codemeter-cmwan codima-rtp cogitate cognex-dataman cognex-insight
cognima cogsys-lm coherence coherence-disc cohesity-agent collaber collaborator colubris
com-bardac-dw combox-web-acc comcam comcam-io commandport commerce commlinx-avl commonspace
commplex-link commplex-main commtact-http commtact-https comotionback comotionmaster compaq-evm
compaq-https compaq-scp compaq-wcp composit-server compx-lockview comscm con conclave-cpp concomp1
concurrent-lm condor conductor conf conference conferencetalk config-port confluent connect
connect-client connect-server connected connection connendp connlcli conspiracy consul-insight
contamac_icm contclientms contentserver continuus controlone-con converge coord-svr cops cops-tls
copy copy-disc copycat cora cora-disc corba-iiop corba-iiop-ssl corbaloc core-of-source
corel_vncadmin corelccam corelvideo corerjd cosmocall couchdb courier covia cp-cluster cp-spxdpy
cp-spxrpts cp-spxsvr cpdi-pidas-cm cplscrambler-al cplscrambler-in cplscrambler-lg cppdp
cpq-tasksmart cpq-wbem cpqrpm-agent cpqrpm-server cps cpscomm cpsp cpudpencap cqg-netlan
cqg-netlan-1 cr-websystems creativepartnr creativeserver cresco-control crescoctrl-disc crestron-cip
crestron-cips crestron-ctp crestron-ctps crinis-hb crip crmsbits crs crtech-nlm cruise-config
cruise-diags cruise-enum cruise-swroute cruise-update crusecontrol cryptoadmin cs-auth-svr cs-live
cs-remote-db cs-services csbphonemaster csc_proxy csccfirewall csccredir cscp csd-monitor csdm
csdmbase csedaemon csi-lfap csi-sgwp cslg cslistener csms csms2 csnet-ns csnotify csoauth
csoft-plusclnt csoft-prev csoft1 csoftragent cspclmulti cspmlockmgr cspmulti cspuni csregagent csrpc
cssc cssp cst-port csvr csvr-proxy csvr-sslproxy ct2nmcs ctcd ctdb ctdhercules ctdp ctechlicensing
ctf cti-redwood ctiprogramload ctisystemmsg ctlptc ctp ctp-state ctsd ctt-broker ctx-bridge ctxlic
ctxs-vpp cuelink cuelink-disc cuillamartin cumulus cumulus-admin curiosity cuseeme custix cvc
cvc_hostd cvd cvmmon cvmon cvspserver cvsup cwmp cxws cyaserv cybercash cyborg-systems cyborgnet
cybro-a-bus cyc cycleserv cycleserv2 cylink-c cymtec-port cypress cypress-stat cytel-lm d-cinema-csp
d-cinema-rrp d-data d-data-control d-fence d-s-n d-star d2000kernel d2000webserver d2dconfig
d2ddatatrans d2k-datamover1 d2k-datamover2 d2k-tapestry1 d2k-tapestry2 d3winosfi daap dab-sti-c
dai-shell daishi dali damewaremobgtwy dandv-tester danf-ak2 daqstream darcorp-lm dashpas-port dasp
data-insurance data-port datacaptor datalens dataprotector datascaler-ctl datascaler-db datasurfsrv
datasurfsrvsec datex-asn datusorb davsrc davsrcs dawn dayliteserver daylitetouch daytime db-lsp
db-lsp-disc db2c-tls dbabble dbase dbbrowse dbcontrol-oms dbcontrol_agent dbdb dberegister
dbisamserver1 dbisamserver2 dbm dbref dbreporter dbstar dbsyncarbiter dc dca dcap dccm dccp-udp dcp
dcs dcs-config dcsl-backup dcsoftware dctp dcutility dddp ddgn ddi-tcp-1 ddi-tcp-2 ddi-tcp-3
ddi-tcp-4 ddi-tcp-5 ddi-tcp-6 ddi-tcp-7 ddi-udp-1 ddi-udp-2 ddi-udp-3 ddi-udp-4 ddi-udp-5 ddi-udp-6
ddi-udp-7 ddm-dfm ddm-rdb ddm-ssl ddns-v3 ddrepl ddt de-cache-query de-noc de-server de-spot
dec-mbadmin dec-mbadmin-h dec-notes dec_dlm decap decauth decbsrv decladebug dectalk decvms-sysmgt
dei-icda delibo dell-eql-asm dell-rm-port dellpwrappks dellwebadmin-1 dellwebadmin-2 delos-dms
delta-mcp denali-server deos deploymentmap derby-repli descent3 deskshare desktop-dna deskview
devbasic device device2 devshr-nts dey-keyneg dey-sapi dfn dfoxserver dfserver dgi-serv dgpf-exchg
dhanalakshmi dhcp-failover dhcp-failover2 dhcpv6-client dhcpv6-server dhct-alerts dhct-status dhe
di-ase di-drm di-msg di-traceware diagmond diagnose-proc dialog-port dialogic-elmd dialpad-voice1
dialpad-voice2 diameter diameters diamondport dic-aida dicom dicom-iscl dicom-tls dict dict-lookup
dif-port digilent-adept digiman digital-notary digital-vrc digivote dilithium3 direcpc-dll
direcpc-si direcpc-video direct directnet directplay directplay8 directplaysrvr directv-catlg
directv-soft directv-tick directv-web directvdata dirgis discard disclose discovery-port
discp-client discp-server display dist-upgrade distcc distinct distinct32 dixie dj-ice dj-ilm django
dka dkmessenger dl_agent dlep dlip dlms-cosem dlpx-sp dls dls-mon dls-monitor dlsrap dlsrpn dlswpn
dmaf-caster dmaf-server dmdocbroker DMExpress dmidi dmod-workspace dmp dmt dn6-nlm-aud dn6-smm-red
dna dna-cml dnap dnc-port dnox dnp dnp-sec dns-llq dns2go dnsix dnx doc-server doc1lm docent
doceri-ctl doceri-view docker docker-s docker-tls docstor documentum documentum_s dof-dps-mc-sec
dof-eps dof-tunnel dof-tunnel-sec doglms doglms-notify doip-data doip-disc domain domain-s
domaintime domiq donnyworld doom dossier dots-signal down downtools downtools-disc dp-bura dpap dpcp
dpi-proxy dpkeyserv dpm dpm-acm dpm-agent dpp dproxy dpserve dpserveadmin dpsi dragonfly drip
driveappserver drizzle drm-production drmsfsd drmsmc drp drwcs ds-admin ds-clnt ds-mail ds-slp
ds-srv ds-srvr ds-user dsatp dsc dsd dsdn dserver dsETOS dsf dsfgw dslremote-mgmt dsm-scm-target
dsmcc-ccp dsmcc-config dsmcc-download dsmcc-passthru dsmcc-session dsmeter_iatc dsmipv6 dsom-server
dsp dsp3270 dssiapi dsx-agent dsx_monitor dt-mgmtsvc dt-vra dta-systems dtk dtn-bundle dtn1 dtp
dtp-dia dtp-net dtpt dts dtserver-port dtspcd dtv-chan-req dvapps dvbservdsc dvcprov-port
dvl-activemail dvr-esm dvt-data dvt-system dwf dwmsgserver dwnmshttp dwr dx-instrument dxadmind
dxmessagebase1 dxmessagebase2 dxspider dyn-site dyna-access dyna-lm dynamic3d dynamid dyniplookup
dzdaemon dzoglserver e-builder e-design-net e-design-web e-dpnet e-mdu e-net e-woa ea ea1
eapol-relay eapsp easl easy-soft-mux easyengine eba ebinsite echo echonet ecmp ecmp-data ecmport
ecnp ecolor-imager ecomm ecovisiong6-1 ecp ecsqdmn ecwcfg edb-server1 edb-server2 edbsrvr
edi_service editbench edix edm-adm-notify edm-manager edm-mgr-cntrl edm-mgr-sync edm-stager
edm-std-notify edtools eenet efb-aci efcp efi-lm efi-mg efidiningport eforward efr efs eftp egptlm
egs ehome-ms ehp-backup ehs ehs-ssl ehtp eicon-server eicon-slp eicon-x25 eims-admin eis eisp
eisport elad elan elanlm elasticsearch elatelink elcn elcsd eldim elektron-admin elfiq-repl eli
elipse-rec ellpack elm-momentum elpro_tunnel els elvin_client elvin_server elxmgmt em7-secom
ema-sent-lm emb-proj-cmd embl-ndt embrace-dp-c embrace-dp-s emc-gateway emc-pp-mgmtsvc emc-vcas-tcp
emc-vcas-udp emc-xsw-dcache emc-xsw-dconfig emcads emce emcrmirccd emcrmird emcsymapiport emfis-cntl
emfis-data emgmsg emp-server1 emp-server2 emperion empire-empuma empowerid emprise-lls emprise-lsc
ems emsd-port emwavemsg emwin encore encrypted-llrp encrypted_admin enfs enguity-xccetp enl enl-name
enlabel-dpl enpc enpp enrp ent-engine entexthigh entextlow entextmed entextnetwk entextxid entomb
entp entrust-aaas entrust-aams entrust-ash entrust-kmsh entrust-sps entrusttime eor-game eoss ep-nsp
ep-pcp epc epicon epl-slp epmap epmd epncdp2 epnsdp eportcomm eportcommdata epp eppc ept-machine
eq-office-4940 eq-office-4941 eq-office-4942 eq3-config eq3-update equationbuilder ergolight
eristwoguns erp-scale erpc erunbook_agent erunbook_server es-elmd esbroker escp-ip escvpnet
eserver-pap esimport esinstall esip esl-lm esmagent esmmanager esnm-zoning esp-encap esp-lm
espeasy-p2p espeech espeech-rtp esps-portal esri_sde esro-emsdp esro-gen essbase essp essweb-gw
estamp etb4j etc-control etcd-client etcd-peer etcd-server etebac5 etftp ethercat ethernet-ip-s
ethoscan etlservicemgr etp ets eudora-set ev-services evb-elm event-port event_listener everydayrc
evm evtp evtp-data ew-disc-cmd ew-mgmt ewall ewcappsrv ewctsp ewdgs ewinstaller ewnn exapt-lmgr
exasoftport1 exbit-escp exce excerpt excerpts excw exec exoconfig exoline-tcp exoline-udp exonet
exp1 exp2 expresspay extensis eye2eye eyelink eyetv ezmeeting ezmeeting-2 ezmessagesrv ezproxy
ezproxy-2 ezrelay f5-globalsite f5-iquery fac-restore facelink facilityview facsys-ntp facsys-router
fagordnc faircom-db fairview famdc farenet fast-rem-serv fastlynx fatpipe fatserv faxcomservice
faximum faxportwinport faxstfx-port fazzt-admin fazzt-ptp fc-cli fc-faultnotify fc-ser fcip-port
fcis fcis-disc fcmsys fcopy-server fcopys-server fcp fcp-addr-srvr1 fcp-addr-srvr2 fcp-cics-gw1
fcp-srvr-inst1 fcp-srvr-inst2 fcp-udp fdt-rcatp fdtracks febooti-aw feitianrockey femis ferrari-foam
ff-annunc ff-fms ff-ice ff-lr-port ff-sm ffserver fg-fps fg-gip fg-sysupdate fhc fhsp fibotrader-com
filecast filemq filenet-cm filenet-nch filenet-obrok filenet-pa filenet-pch filenet-peior
filenet-powsrm filenet-re filenet-rmi filenet-rpc filenet-tms filesphere filex-lport find findviatv
finger finisar finle-lm fintrx fio-cmgmt fiorano-msgsvc fiorano-rtrsvc firefox firemonrcc firepower
first-defense firstcall42 fisa-svc fiveacross fj-hdnet fjappmgrbulk fjcp fjdmimgr fjdocdist fjhpjp
fjicl-tep-a fjicl-tep-b fjicl-tep-c fjinvmgr fjippol-cnsl fjippol-polsvr fjippol-port1 fjippol-port2
fjippol-swrly fjitsuappmgr fjmpcm fjmpjps fjmpss fjsv-gssagt fjsvmpor fjswapsnp fksp-audit
flamenco-proxy flashfiler flashmsg flask flcrs flex-lmadmin flexlm flirtmitmir fln-spx florence
flr_agent flukeserver fly fmp fmpro-fdal fmpro-internal fmpro-v6 fmsas fmsascon fmtp fmwp
fnet-remote-ui fodms foliocorp font-service foresyte-clear foresyte-sec fortisphere-vm fotogcad
found fpitp fpo-fns fprams frc-hicp frc-hicp-disc frcs freeciv freezexservice fronet fryeserv
fs-agent fs-mgmt fs-qos fs-rh-srv fs-server fsc-port fse fsportmap fsr ft-role ftnmtp ftp ftp-agent
ftp-data ftps ftps-data ftranhc ftrapid-1 ftrapid-2 ftsrv ftsync fujitsu-dev fujitsu-dtc
fujitsu-dtcns fujitsu-mmpdc fujitsu-neat funk-dialout funk-license funk-logger funkproxy fuscript
futrix fxaengine-net fxp fxuptp fyre-messanger g-talk g2tag g5m gacp gadgetgate1way gadgetgate2way
gadugadu gaia galaxy-network galaxy-server galaxy4d galaxy7-data galileo galileolog gamegen1
gamelobby gamesmith-port gammafetchsvr gandalf-lm gap garmin-marine gat-lmd gbjd816 gbmt-stars
gbs-smp gbs-stp gc-config gcm-app gcmonitor gcp-rphy gcsp gdbremote gdoi gdomap gdp-port gdrive-sync
gds-adppiw-db gds_db gearman gemini-lm geneous generalsync geneve genie genie-lm genisar-port
geniuslm genrad-mux genstat geognosis geognosisadmin geognosisman geolocate gerhcs getty-focus gf
ggf-ncp ggz ghvpn giga-pocket gilatskysurfer ginad giop giop-ssl gist git glbp gld glishd
global-cd-port global-dtserv global-wlink globe globecast-id globmsgsvc glogger glrpc gmrupdateserv
gnmi-gnoi gntp gnunet gnutella-rtr gnutella-svc go-login goahead-fldup gog-multiplayer
goldleaf-licman golem gopher gotodevice gpfs gppitnp gprs-cube gprs-data gprs-sig gpsd gradecam
grafana graphics grasp grcmp grcp gre-in-udp gre-udp-dtls grf-port gribi grid grid-alt gridgen-elmd
griffin gris groove groove-dpp groupwise grubd gruber-cashreg gs-realtime gsakmp gsi gsidcap gsiftp
gsigatekeeper gsmp-ancp gsms gsmtap gss-http gss-xlicen gt-proxy gtaua gte-samp gtegsc-lm
gtp-control gtp-user gtrack-ne gtrack-server gue guibase guttersnex gv-pf gv-us gvcp gw gw-asv
gw-call-port gw-log gwen-sonya gwha gxs-data-port gxtelmd h2250-annex-g h248-binary h263-video
h2gf-w-2m h323callsigalt h323gatedisc h323gatestat h323hostcall h323hostcallsc ha-cluster hacl-cfg
hacl-gs hacl-hb hacl-local hacl-monitor hacl-poll hacl-probe hacl-qs hacl-test hagel-dump
haipe-discover haipe-otnk hao hap harp hart-ip hassle hawk hb-engine hcp-wismar hctl hdap
hde-lcesrvr-1 hde-lcesrvr-2 hdl-srv health-polling health-trap healthd heartbeat heathview hecmtl-db
heliosd helix hello hello-port hems here-lm hermes herodotus-net hes-clip hexarc hexxorecore
heythings hfcs hfcs-manager hhb-gateway hhb-handheld hicp hid high-criteria hillrserv hinp hip-nat-t
hiperscan-id hippad hiq hislip hivep hivestor hkp hks-lm hl7 hlibmgr hlserver hmip-routing hmmp-ind
hmmp-op hncp-dtls-port hncp-udp-port hnm hnmp homeportal-web homesteadglory honyaku hostname
hotu-chat houdini-lm houston hp-3000-telnet hp-alarm-mgr hp-clic hp-collector hp-device-disc hp-hcip
hp-hcip-gwy hp-managed-node hp-nnm-data hp-pxpib hp-san-mgmt hp-sca hp-sci hp-sco hp-server
hp-sessmon hp-status hp-webadmin hp-webqosdb hpbladems hpdevms hpidsadmin hpidsagent hpiod hpocbus
hpoms-ci-lstn hpoms-dps-lstn hpppssvr hppronetman hpss-ndapi hpssd hpssmgmt hpstgmgr hpstgmgr2
hpvirtctrl hpvirtgrp hpvmmagent hpvmmcontrol hpvmmdata hpvroom hrd-ncs hrd-ns-disc hri-port
hrpd-ith-at-an hs-port hsl-storm hsrp hsrpv6 htcp htrust http http-alt http-dev http-mgmt
http-rpc-epmap http-wmap https https-wmap httpx htuilsrv hub-open-net hughes-ap husky hybrid
hybrid-pop hydap hydra hylafax hyper-g hypercube-lm hyperip hyperscsi-port hyperwave-isp
i-net-2000-npr i-zipqd i3-sessionmgr iadt iadt-disc iadt-tls iafdbase iafserver ianywhere-dbns iapp
ias-admind ias-auth ias-neighbor ias-paging ias-reg ias-session iascontrol iascontrol-oms iasd
iatp-highpri iatp-normalpri iax iba-cfg iba-cfg-disc ibar iberiagames ibm-abtact ibm-app ibm-cics
ibm-db2 ibm-dial-out ibm-diradm ibm-diradm-ssl ibm-dt-2 ibm-mgr ibm-mqseries ibm-mqseries2 ibm-pps
ibm-res ibm-rsyscon ibm-ssd ibm3494 ibm_wrless_lan ibp ibprotocol ibridge-data ibridge-mgmt ibus ica
icabrowser icad-el icap iccrushmore ice-location ice-router ice-slocation ice-srouter iceedcp_rx
iceedcp_tx icg-bridge icg-iprelay icg-swp icl-twobase1 icl-twobase10 icl-twobase2 icl-twobase3
icl-twobase4 icl-twobase5 icl-twobase6 icl-twobase7 icl-twobase8 icl-twobase9 iclcnet-locate
iclcnet_svinfo iclid iclpv-dm iclpv-nlc iclpv-nls iclpv-pm iclpv-sas iclpv-sc iclpv-wsm icmpd icms
icon-discover iconp iconstructsrv icp icpp icpps icpv2 ics icshostsvc icslap ida-discover1
ida-discover2 idac idcp ideafarm-door ideafarm-panic ideesrv iden-ralp identify idfp idig_mux idmaps
idmgratm idonix-metanet idotdist idp idp-infotrieve idps idrs idtp idware-router idxp iec-104
iec-104-sec iee-qfx ieee-mih ieee-mms ieee-mms-ssl ieee11073-20701 ies-lm ifcp-port ife_icorp
ifor-protocol ifsf-hb-port ifsp igcp igi-lm igmpv3lite igo-incognito igrid igrs ii-admin iims iiop
iiw-port ild ill ilss imagepump imagequery imap imap3 imaps imdocsvc imgames imink imip
imip-channels immedianet-bcn imoguia-port impera imprs imqbrokerd imqstomp imqstomps imqtunnel
imqtunnels imsldoc imsp imtc-map imtc-mcs imyx inbusiness incognitorv incp index-net index-pc-wb
indi indigo-server indigo-vbcp indigo-vrmi indura indx-dds indy inedo inetfs infi-async
infiniswitchcl influence infobright infocrypt infoexch infolibria infoman infomover informatik-lm
informer infoseek infotos infowave ingres-net ingreslock ininmessaging iniserve-port initlsmsad
innosys innosys-acl inova-ip-disco inovaport1 inovaport2 inovaport3 inovaport4 inovaport5 inovaport6
insis insitu-conf inspect inspider inst-discovery instantia instl_bootc instl_boots int-rcv-cntrl
intecom-ps1 intecom-ps2 intecourier integra-sme integral integrius-stp intel-rci-mp intel_rci
intelliadm-disc intellistor-lm intelsync interact interactionweb interbase interhdl_elmd
interintelli intermapper interpathpanel intersan interserver intersys-cache interwise interworld
intraintra intrastar intrepid-ssl intrinsa intu-ec-client intu-ec-svcdisc intuitive-edge intv
invision invision-ag invokator io-dist-data io-dist-group ioc-sea-lm iona-data ionixnetmon iop
ip-blf ip-provision ip-qsig ipass ipcd ipcd3 ipcore ipcs-command ipcserver ipdcesgbs ipdd ipdr-sp
ipdtp-port ipether232port ipfix ipfixs ipfltbcst iph-policy-adm iph-policy-cli ipluminary iposplanet
ipp ipps ipr-dglt ipsdtls ipsec-nat-t ipsendmsg ipsma ipt-anri-anri ipulse-ics ipx iqnet-port
iqobject iqrm iqserver ique iracinghelper iRAPP irc irc-serv ircs-u irdg-post irdmi irdmi2 iris-beep
iris-lwz iris-xpc iris-xpcs irisa ironmail ironstorm irp irtrans is99c is99s isa100-gci isakmp
isbconference1 isbconference2 iscape ischat iscsi iscsi-target isdc isdd isg-uda-server isi-gl
isi-irp isis isis-am isis-ambc isis-bcast islc ismaeasdaqlive ismaeasdaqtest ismc ismserver
isnetserv isns iso-ill iso-ip iso-tp0 iso-tp0s iso-tsap iso-tsap-c2 isode-dua isoft-p2p
isoipsigport-1 isoipsigport-2 isomair ispipes ispmmgr isrp-port iss-mgmt-ssl issd isysg-lm ita-agent
ita-manager itach itactionserver1 itactionserver2 italk itap-ddtp itelserverport item itinternet
itm-lm itm-mccs itm-mcell-s itm-mcell-u ito-e-gui itose itscomm-ns itv-control itwo-server iua
ivcollector ivecon-port ivocalize ivs-database ivs-insertion ivs-video ivsd iw-mmogame
iwb-whiteboard iwec iwg1 iwlistener iwserver izm j-ac j-lan-p j-link jacobus-lm jaleosnd jamlink
jamserverport janus-disc jargon jaugsremotec-1 jaugsremotec-2 jaus jaxer-manager jaxer-web jaxflow
jaxflow-data jboss-iiop jboss-iiop-ssl jbroker jcp jdatastore jdl-dbkitchen jdmn-port jdp-disc
jediserver jeol-nsddp-1 jeol-nsddp-2 jeol-nsddp-3 jeol-nsddp-4 jeol-nsdtp-1 jeol-nsdtp-2
jeol-nsdtp-3 jeol-nsdtp-4 jerand-lm jesmsjc jetcmeserver jetform jetformpreview jetstream jibe-eb
jini-discovery jlicelmd jmact3 jmact5 jmact6 jmb-cds1 jmb-cds2 jmevt2 jmq-daemon-1 jmq-daemon-2 jms
joaJewelSuite joltid jomamqmonitor joost journee jpegmpeg jprinter jps jstel jt400 jt400-ssl
jtag-server jtnetd-server jtnetd-status juka jupyter jute juxml-port jvclient jvl-mactalk jvserver
jwalkserver jwclient jwpc jwpc-bin jwserver k-block k-patentssensor k3software-cli k3software-svr
ka-kdp ka-sddp ka0wuc kali kana kaostransport kar2ouche kastenchasepad kastenxpipe kazaa kca-service
kdm kdnet kentrox-prot kerberos kerberos-adm kerberos-iv kermit keyserver keyshadow keysrvr kfserver
kftp kftp-data kfxaclicensing kingdomsonline kingfisher kink kiosk kis kitim kjtsiteserver klio
klogin kme-trap-port kmip kmscontrol knet-cmp kofax-svr konshus-lm konspire2b kopek-httphead kpasswd
kpdp kpn-icw krb5gatekeeper kryptolan kshell ksysguard ktelnet kti-icad-srvr ktickets-rest kubelet
kubernetes-api kv-agent kv-server kvm-via-ip kwdb-commn kwtc kyoceranetdev kz-migr l-acoustics
l2c-control l2c-data l2c-disc l2tp l3-exprt l3-hawk l3-hbmon l3-ranger l3t-at-an l5nas-parchan
labrat laes-bf lam lan900_remote landmarks lanmessenger lanner-lm lanrevagent lanrevserver lanschool
lanschool-mpt lanserver lansource lansurveyor lansurveyorxml lanyon-lantern laplink launchbird-lm
lavenir-lm lazy-ptop lbc-control lbc-measure lbc-sync lbc-watchdog lbf lbm lcm-server ldap
ldap-admin ldaps ldgateway ldoms-mgmt ldoms-migr ldp lds-distrib lds-dump ldss ldxp lecroy-vicp
leecoposserver legent-1 legent-2 leoip lhtp libelle libelle-disc liberty-lm licensedaemon
LiebDevMgmt_A LiebDevMgmt_C LiebDevMgmt_DM light limnerpressure link linkname linktest linktest-s
linogridengine linx lionhead lipsinc lipsinc1 lisp-control lisp-data lispworks-orb listcrt-port
listcrt-port-2 listmgr-port livelan livestats ljk-login lkcmserver llm-csv llm-pass llmnr llrp
llsurfup-http llsurfup-https lm-dta lm-instmgr lm-mon lm-perfworks lm-sserver lm-webwatcher lm-x
lmcs lmdp lmp lms lmsocialserver lnvalarm lnvconsole lnvmailmon lnvmaps lnvpoller lnvstatus loaprobe
localinfosrvr lockstep locus-con locus-disc locus-map lofr-lm logcabin login lonewolf-lm
lontalk-norm lontalk-urgnt lonworks lonworks2 loreji-panel lorica-in lorica-in-sec lorica-out
lorica-out-sec lot105-ds-upd lotusmtap lotusnote lpar2rrd lpcp lpdg lpsrecommender lrp lrs-paging
ls3 ls3bcast lsa-comm lsdp lsi-bobcat lsi-raid-mgmt lsp-ping lsp-self-ping lstp ltctcp ltcudp ltp
ltp-deepspace lumimgrd lupa lutap lutcp lv-auth lv-ffx lv-frontpanel lv-jc lv-not lv-pici lvision-lm
lxi-evntsvc lyskom m-bus-oms m-wnn m2mservices m2pa m2ua m3da m3da-disc m3ua m4-network-as
mac-srvr-admin macbak macon-tcp macon-udp macromedia-fcs madcap madge-ltd magaya-network magbind
magenta-logic magiccontrol magicnotes magicom magpie mailbox mailbox-lm mailprox mailq maincontrol
mainsoft-lm maitrd manage-exec manet manyone-http manyone-xml mao mapper-mapethd mapper-nodemgr
mapper-ws_ethd mapx marathontp marcam-lm markem-dcp martalk masc masqdialer matahari matip-type-a
matrix-fed matrix_vnet matter max maxim-asics MaxumSP maytagshuffle mbap mbap-s mbg-ctrl mbl-battd
mbus mc-appserver mc-brk-srv mc-client mc-comm mc-gt-srv mc2studios mc3ss mcagent mccwebsvr-port
mcer-port mcftp mcidas mck-ivpip mcns-sec mcns-tel-ret mcntp mcp mcp-port mcreport mcs-calypsoicf
mcs-fastmail mcs-mailsvr mcs-messaging mctet-gateway mctet-jserv mctet-master mctfeed mctp
md-cg-http mdap-port mdbs_daemon mdc-portmapper mdm mdns mdnsresponder mdtp mecomm med-ci med-fsp-rx
med-fsp-tx med-ltp med-net-svc med-ovw med-supp medevolve media-agent mediabox mediacntrlnfsd
mediaspace mediat mediavault-gui medimageportal megaco-h248 megardsvr-port megaregsvrport memcache
memcached menandmice-dns menandmice-lpm menandmice-mon menandmice-upg menandmice_noh mentaclient
mentaserver mercantile mercury-disc meregister mesavistaco messageasap messageservice meta-corp
meta5 metaagent metaconsole metaedit-mu metaedit-se metaedit-ws metagram metalbend metasage
metastorm metasys metatude-mds meter metricadbc metrics-pas mevent mfcobol mfserver mftp
mgcp-callagent mgcp-gateway mgcs-mfp-port mgemanagement mgesupervision mgxswitch miami-bcast
mib-streaming mice micom-pfs microcom-sbp micromuse-lm micromuse-ncps micromuse-ncpw microsan
microsoft-ds microtalon-com microtalon-dis midnight-tech mikey mil-2045-47001 miles-apart mimer
mindarray-ca mindfilesys mindprint minger mini-sql minilock minipay minirem minivend minotaur-sa
mipi-debug mipv6tls mira miroconnect mirrtex mit-dov mit-ml-dev miteksys-lm miva-mqs mkm-discovery
ml-svnet mle mloadd mlsn mma-discovery mmacomm mmaeds mmcal mmcals mmcc mmpft mnet-discovery
mngsuite mni-prot-rout mnp-exchange mns-mail mobile-file-dl mobile-p2p mobileanalyzer mobileip-agent
mobilip-mn MobilitySrv mobrien-chat moldflow-lm molly mon mondex monetra monetra-admin mongodb
monitor monkeycom monp montage-lm mortgageware MOS-aux MOS-lower MOS-soap MOS-soap-opt MOS-upper
mosaicsyssvc1 mosaixcc moshebeeri mountd movaz-ssc moy-corp mpc-lifenet mpfoncl mpfwsas mphlpdmc
mpidcagt mpidcmgr mpl-gprs-port mpls-pm mpls-udp mpls-udp-dtls mpm mpm-flags mpm-snd mpnjsc mpnjsocl
mpnjsomb mpnjsomg mpnjsosv mpp mppolicy-mgr mppolicy-v5 mps-raft mpshrsv mpsserver mpsysrmsvr mptn
mqe-agent mqe-broker mqtt mrip mrm mrssrendezvous ms-alerter ms-cluster-net ms-do ms-ilm ms-ilm-sts
ms-la ms-licensing ms-mcc ms-olap1 ms-olap2 ms-olap3 ms-olap4 ms-rome ms-rule-engine ms-s-sideshow
ms-shuttle ms-sideshow ms-smlbiz ms-sna-base ms-sna-server ms-sql-m ms-sql-s ms-streaming ms-theater
ms-v-worlds ms-wbt-server msdfsr msdp msdts1 msexch-routing msfrs msft-dpm-cert msft-gc msft-gc-ssl
msfw-array msfw-control msfw-replica msfw-s-storage msfw-storage msg-auth msg-icp msgclnt msgsrvr
msgsys mshnet mshvlm msi-cps-rm msi-cps-rm-disc msi-selectplay msiccp msims msl_lmd msmq msnp
msolap-ptp2 msp msp-os msr-plugin-port msrp msss mstmg-sstp msync mt-scaleserver mtcevrunqman
mtcevrunqss mti-tcs-comm mtl8000-matrix mtn mtp mtport-regist mtportmon mtqp mtrace mtrgtrans
mtsserver multicast-ping multiling-http multip-msg multiplex mumps munin mupdate murray murx muse
musiconline must-backplane must-p2p mvel-lm mvs-capacity mvx-lm mxi mxit mxodbc-connect mxomss
mxxrlogin myblast mylex-mapd mylxamport mynahautostart myq-termlink myrtle mysql mysql-cluster
mysql-cm-agent mysql-im mysql-proxy mysqlx mzap mzca-action mzca-alert n1-fwp n1-rmgmt n2h2server
n2nremote n2receive na-er-tip na-localise naap nacagent nacnl namemunge nameserver namp nani nas
nas-metering nasmanager natdataservice nati-dstp nati-logos nati-svrloc nati-vi-server nattyserver
natuslink nav-data nav-data-cmd nav-port navbuddy navegaweb-port navisphere navisphere-sec nbd nbdb
nbt-pc nbt-wol nburn_id nbx-au nbx-cc nbx-dir nbx-ser ncacn-ip-tcp ncadg-ip-udp ncconfig
ncdloadbalance ncdmirroring nced ncl ncld ncp ncpm-ft ncpm-hip ncpm-pm ncpu ncr_ccl ncu-1 ncu-2
ncube-lm ncxcp ndl-aas ndl-ahp-svc ndl-als ndl-aps ndl-tcp-ois-gw ndm-agent-port ndm-requester
ndm-server ndmp ndmps ndn ndnp nds_sso ndsauth ndsconnect ndsp ndtp nec-raidplus neckar necp
nei-management neo4j neod1 neod2 neoiface neon24x7 nerv nesh-broker nessus nest-protocol
net-assistant net-device net-projection net-steward net2display net8-cman netadmin netagent netangel
netapp-icdata netapp-icmgmt netapp-sync netarx netaspi netattachsdmp netbill-auth netbill-cred
netbill-keyrep netbill-prod netbill-trans netbios-dgm netbios-ns netbios-ssn netblox netbookmark
netboot-pxe netcabinet-com netcelera netchat netcheque netclip netcomm1 netcomm2 netconf-ch-ssh
netconf-ch-tls netconf-ssh netconf-tls netcp netdb-export neteh neteh-ext netgw netinfo-local netiq
netiq-endpoint netiq-endpt netiq-mc netiq-ncap netiq-qcheck netiq-voipa netlabs-lm netmagic
netmap_lm netml netmo-default netmo-http netmon netmount netmpi netnews neto-dcs neto-wol-server
netobjects1 netobjects2 netop-rc netop-school netopia-vo1 netopia-vo2 netopia-vo3 netopia-vo4
netopia-vo5 netops-broker netperf netplan netplay-port1 netplay-port2 netport-id netrcs netrek
netrisk netrix-sftm netrjs-1 netrjs-2 netrjs-3 netrjs-4 netrockey6 netsc-dev netsc-prod netscript
netserialext1 netserialext2 netserialext3 netserialext4 netspeak-acd netspeak-cps netspeak-cs
netspeak-is netsteward netsupport netsupport2 nettest nettgain-nms netuitive netview-aix-1
netview-aix-10 netview-aix-11 netview-aix-12 netview-aix-2 netview-aix-3 netview-aix-4 netview-aix-5
netview-aix-6 netview-aix-7 netview-aix-8 netview-aix-9 netviewdm1 netviewdm2 netviewdm3 netwall
netware-csp netware-ip netwatcher-db netwatcher-mon netwave-ap-mgmt netwkpathengine networklens
networklenss netx-agent netx-server netxms-agent netxms-mgmt netxms-sync neveroffline new-rwho
newbay-snc-mc newgenpay newlixconfig newlixengine newlixreg newoak news newton-dock newwavesearch
nexentamv nexgen nexgen-aux nexstorindltd nextstep nexus-portal nfa nfoldman nfs nfsd-keepalive
nfsrdma ng-umds nhci nhserver ni-visa-remote nicelink nicetec-mgmt nicetec-nmsvc nicname nifty-hmi
nikatron-dev nilinkanalyst nim nim-vdrshell nim-wan nimaux nimbusdb nimbusdbctrl nimcontroller
nimgtw nimhub nimreg nimrod-agent nimsh nimspooler ninaf niobserver nip niprobe nirp nitrogen
njenet-ssl nkd nlg-data nlogin nls-tl nm-asses-admin nm-assessor nm-game-admin nm-game-server nmap
nmasoverip nmc-disc nmea-0183 nmea-onenet nmmp nms nms-dpnss nms_topo_serv nmsd nmsigport nmsp
nmsserver nnp nnsp nntp nntps noaaport noadmin noagent nod-client nod-provider node-exporter
noit-transport nokia-ann-ch1 nokia-ann-ch2 nomad nomdb norp norton-lambert notateit notateit-disc
noteit noteshare noteza notezilla-lan notify notify_srvr novar-alarm novar-dbase novar-global
novastorbakcup novation novell-ipx-cmd novell-lu6.2 novell-zen nowcontact npdbgmngr npds-tracker
npep-messaging npmp npmp-gui npmp-local npmp-trap npp nppmp npqes-test npsp nqs nrcabq-lm nrpe ns
ns-cfg-server ns-server nsc-ccs nsc-posa nsdeepfreezectl nsesrvr nsiiops nsjtp-ctrl nsjtp-data nsp
nsrp nss nss-routing nssagentmgr nssalertmgr nssocketport nsstp nst nsw-fe nsws nta-ds nta-us ntalk
ntp ntske ntz-p2p-storage ntz-tracker nuauth nucleus nucleus-sand nufw nupaper-ss nusdp-disc nusrp
nut nuts_bootp nuts_dem nuxsl nv-video nvc nvcnet nvd nvme nvme-disc nvmsgd nw-license nxedit nxlmd
o2server-port oa-system obex objcall objective-dbc objectmanager obrpd observium-agent oc-lm
ocbinder oce-snmp-trap oceansoft-lm ocs_amu ocs_cmu ocserver octopus octopustentacle odbcpathway
odette-ftp odette-ftps odeumservlink odi-port odmr odn-castraq odnsp odsi oem-agent oemcacao-jmxmp
oemcacao-rmi oemcacao-websvc office-tools officelink2000 ofsd ogs-client ogs-server ohimsrv
ohmtrigger ohsc oi-2000 oidocsvc oidsr oirtgsvc oktaauthenticat olhost ollama olsr olsv oma-dcdocbs
oma-ilp oma-ilp-s oma-mlp oma-mlp-s oma-rlp oma-rlp-s oma-ulp omabcastltkm omasgport omginitialrefs
omhs omnilink-port omnisky omnivision omnivisionesx oms oms-nonsecure omscontact omsdk omserv
omstopology omviagent omviserver onbase-dds onehome-help onehome-remote onep-tls onesaf onmux
onpsocket onscreen ontime ontobroker oob-ws-http oob-ws-https op-probe opalis-rbt-ipc opalis-rdv
opalis-robot opc-job-start opc-job-track opcon-xps opcua-tcp opcua-tls opcua-udp opencm opencore
opendeploy openflow openhpid openit openmail openmailg openmailns openmailpxy openmath opennl
opennl-voice openport openqueue openremote-ctrl openstack-id opentable opentelemetry opentrac
openvms-sysipc openvpn openwebnet opequus-server opi-sock opnet-smp opsec-cvp opsec-ela opsec-lea
opsec-omi opsec-sam opsec-uaa opsec-ufp opsession-clnt opsession-prxy opsession-srvr opsmessaging
opsmgr opsview-envoy opswagent opswmanager optech-port1-lm optika-emedia optilogic optima-vnet
optiwave-lm optocontrol optohost002 optohost003 optohost004 opus-services ora-lm ora-oap oracle
oracle-em1 oracle-em2 oracle-ms-ens oracle-oms oracle-vp1 oracle-vp2 oracleas-https oraclenames
oraclenet8cman orbiter orbix-cfg-ssl orbix-config orbix-loc-ssl orbix-locator orbixd orbplus-iiop
ordinox-dbase ordinox-server origo-native origo-sync orion orion-rmi-reg ortec-disc os-licman osaut
osb-sd osdcp osm-appsrvr osm-oev osmosis-aeea osp ospf-lite osu-nms osvr otlp otmp otp otpatch ott
ottp otv outlaws ov-nnm-websrv ovalarmsrv ovalarmsrv-cmd ovbus oveadmgr ovhpas ovladmgr ovobs
ovrimosdbman ovsam-d-agent ovsam-mgmt ovsdb ovsessionmgr ovtopmd ovwdb owamp-control owamp-test owms
owserver p-net-local p-net-remote p25cai p2pcommunity p2pevolvenet p2pgroup p2pq p4p-portal
p4runtime p6ssmc pace-licensed pacerforum pacmand pacom padl2sim pads pafec-lm paging-port
pago-services1 pago-services2 palace-1 palace-2 palace-3 palace-4 palace-5 palace-6 palcom-disc
pammratc pammrpc pana panagolin-ident panasas pangolin-laser panquest-xact papachi-p2p-srv
paradym-31port paragent parallel park-agent parliant parsec-game parsec-master parsec-peer partimage
passgo passgo-tivoli password-chg passwrd-policy patrol patrol-coll patrol-ism patrol-mq-gm
patrol-mq-nm patrol-snmp patrolview pawserv pay-per-view paycash-online paycash-wbp payrouter
pc-mta-addrmap pc-telecommute pcanywheredata pcanywherestat pcc-image-port pcc-mfp pcep pcia-rxp-b
pciarray pcihreq pcle-infex pclemultimedia pcmail-srv pcmk-remote pcoip pcoip-mgmt pconnectmgr pcp
pcp-multicast pcptcpservice pcs-pcw pcs-sf-ui-man pcsync-http pcsync-https pctrader pcttunnell
pd-admin pda-data pda-gate pda-sys pdap pdap-np pdb pdefmns pdl-datastream pdnet pdp pdps pdrncs pds
pdtp pduncs pe-mike peerbook-port peerwire pegasus pegasus-ctl pegboard pehelp pentbox-sim peocoll
peoctlr peport perf-port perfd perimlan periscope permabit-cs perrla persona personal-agent
personal-link personalos-001 personnel pfcp pftp pfu-prcallback pgbackrest pgbouncer pgps ph
pharmasoft pharos philips-vc phoenix-rpc phonebook phonex-port photuris php-fpm phrelay phrelaydbg
piccolo pichat picknfs picodbc pictrography pim-port pim-rp-disc ping-pong pinghgl pip pipe_server
pipes piranha1 piranha2 pirp pit-vpn pixelpusher pjj-player pjj-player-disc pjlink pk pk-electronics
pkagent pkix-3-ca-ra pkix-cmc pkix-timestamp pkt-krb-ipsec pktcable-cops pktcablemmcops plato
plato-lm playsta2-app playsta2-lob plbserve-port plcy-net-svcs plethora plex plgproxy pluribus
plysrv-http plysrv-https pm-cmdsvr pmas pmcd pmcp pmcs pmd pmdfmgt pmdmgr pmip6-cntl pmip6-data
pmproxy pmsm-webrctl pmwebapi pn-requester pn-requester2 pnaconsult-lm pnbs pnbscada pnet-conn
pnet-enc pnrp-port pns polestar policyserver pon-ictp pop2 pop3 pop3s popup-reminders portgate-auth
postgresql pov-ray PowerAlert-nsa powerburst powerclientcsf powerexchange powergemplus powerguardian
poweronnud powerschool powwow-client powwow-server ppactivation ppcontrol ppsms ppsuitemsg
pptconference pptp pq-lic-mgmt pqsflows pqsp pra_elmd prat prchat-server prchat-user precise-comm
precise-i3 precise-sft precise-vip predatar-comms prelude presence presonus-ucnet press prex-tcp
prgp primaserver princity-agent print-srv printer printer_agent printopia priority-e-com
prism-deploy prismiq-plugin privateark privatechat privatewire privilege privoxy prizma prm-nm
prm-nm-np prm-sm prm-sm-np prnrequest prnstatus pro-ed proactivate proactivesrvr proaxess procos-lm
prodigy-intrnet productinfo profile profilemac profinet-cm profinet-cm-sec profinet-rt
profinet-rt-sec profinet-rtm progistics programmar prolink prometheus proofd propel-msgsys proremote
proshare-mc-1 proshare-mc-2 proshare1 proshare2 proshareaudio prosharedata prosharenotify
prosharerequest prosharevideo prospero prospero-np proxim proxima-lm proxy-gateway prp prRegister
prsvp ps-ams PS-Capture-Pro PS-Server psbserver pscl-mgt pscribe pscupd psdbserver pserver psi-ptt
psl-management pslicser pslserver psmond psprserver pspserver psqlmws psrserver psrt pss pssc pt-tls
pt2-discover ptcnameservice ptk-alink ptp ptp-event ptp-general publiqare-sync pulsonixnls pump
pumpkindb puparp puppet puprouter purenoise purityrpc pushns pvaccess pvsw pvsw-inet pvuniwien
pvxpluscs pvxplusio pwdgen pwdis pwgippfax pwgpsi pwgwims pwrsevent pxc-epmap pxc-ntfy pxc-pin
pxc-roid pxc-sapxom pxc-splr pxc-splr-ft pxc-spvr pxc-spvr-ft pyrrho q3ade q55-pcc qadmifevent
qadmifoper qb-db-server qbdb qbikgdp qcp qdb2service qencp qfp qft qftest-lic-mcp qftest-lookup
qip-audup qip-login qip-msgd qip-qdhcp qke-llc-v3 qmqp qmtp qmtps qmvideo qnts-orb qnxnetman
qo-secure qolyester qotd qotps qpasa-agent qptlmd qrh qsm-gui qsm-proxy qsm-remote qsnet-assist
qsnet-cond qsnet-nucl qsnet-trans qsnet-workst qsoft qt-serveradmin qtms-bootstrap qtp quaddb
quailnet quake quantastor quartus-tcl quasar-server qubes quest-agent quest-data-hub quest-disc
quest-vista questdb2-lnchr questnotify queueadm quickbooksrds quicksuite quosa quotad qvr qwave
raadmin racf radan-http radclientport radec-corp radg radio radio-bc radio-sm radius radius-acct
radius-dynauth radix radmin-port radmind radpdf rads radsec radware-rpm radware-rpm-s radwiz-nms-srv
raid-ac raid-am raid-cc raid-cd raid-cs raid-sf railgun-webaccl ramp rancher rap rap-ip rap-listen
rap-service rapi rapidbase rapidmq-center rapidmq-reg rapido-ip raqmon-pdu rasadv ratio-adp ratl
ravehd raven-rdp raven-rmp raventbs raventdm raw-serial raxa-mgmt razor rbakcup1 rbakcup2 rblcheckd
rbr-debug rbr-discovery rbsystem rbt-smc rbt-wanopt rcc-host rcip-itu rcp rcst rcts rda rdb-dbs-disp
rdc-wh-eos RDCenter rdgs rdlap rdm-tfs rdmnet-ctrl rdmnet-device rdrmshc rds rds-ib rds-ip rds2
re-conn-proto re-mail-ck re101 reachout realm-rusd realsecure rebol recipe recvr-rc recvr-rc-disc
redis redstone-cpss redstorm_diag redstorm_find redstorm_info redstorm_join redwood-chat reftek
registrar relief rellpack reload-config remcap remctl remographlm remote-as remote-collab remote-kis
remote-winsock remotedeploy remotefs remoteware-cl remoteware-srv remoteware-un repcmd repliweb
repscmd repsvc res res-sap resacommunity rescap resorcs resource_mgr responselogic responsenet
restconf-ch-tls retp retrospect rets rets-ssl reversion rexecj rfa rfb rfe rfid-rp1 rfile rfio rfmp
rfx-lm rgtp rhp-iibp rib-slm ricardo-lm rich-cp rid ridgeway1 ridgeway2 rift-lies rift-ties rimf-ps
rimsl ripng ris ris-cm rise rjcdb-vcards rje rkb-oscs rlm rlm-admin rlm-disc rlp rlzdbase rmc
rmiactivation rmiaux rmiregistry rmlnk rmonitor rmonitor_secure rmopagt rmpp rms-agent rmt rmtserver
rndc rnm rnmap rnrp robcad-lm robix roboeda roboer robot-remote robotraconteur roce rockwell-csp2
rocrail roketz rome rootd rothaga roughtime routematch router roverlog rp-reputation rpas-c2 rpasswd
rpc2portmap rpi rpki-rtr rpki-rtr-tls rprt rrac rrdp rrh rrifmm rrilwm rrimwm rrirtr rrisat rrp
rs-pias rs-rmi rs-status rsap rsc-robot rscd rscs rsf-1 rsh-spx rsip rsisysaccess rsms rsmtp rsom
rsqlserver rsvd rsvp-encap-1 rsvp-encap-2 rsvp_tunnel rsync rt-classmanager rt-devicemapper rt-event
rt-event-s rt-helper rt-labtracker rt-sound rt-viewer rtc-pm-port rtcm-sc104 rtelnet rtimeviewer
rtip rtmp-port rtnt-1 rtnt-2 rtps-dd-mt rtps-dd-ut rtps-discovery rtraceroute rtsclient rtsp
rtsp-alt rtsps rtsserv rugameonline rusb-sys-port rushd rvs-isdn-dcp rwhois rwp rxapi rxe rxmon
s-bfd s-net s-openmail s102 s3db s8-client-port sa-msg-port sabams sabarsd sabp-signal sac sacred
safetynetp saft sage-best-com1 sage-best-com2 sagectlpanel sagxtsds sah-lm sais saiscm saiseh saism
sal salient-dtasrv salient-mux salient-usrmgr saltd-licensing samd samsung-disc samsung-unidex
sanavigator sandpolis sane-port sanity santak-ups santools saphostctrl saphostctrls sapms sapv1
saratoga saris sas-remote-hlp sasg sasggprs sasp sauterdongle savant sbackup sbi-agent sbl sbook
scaleft scan-change scanstat-1 scc-security sccip-media sceanics scenccs scenidm scientia-sdb
scientia-ssdb scinet scintilla scipticslsrvr sco-aip sco-dtmgr sco-inetmgr sco-peer-tta sco-sysmgr
sco-websrvrmg3 sco-websrvrmgr scohelp scoi2odialog scol scoremgr scotty-disc scotty-ft scp
scp-config scpi-raw scpi-telnet scrabble screencast scriptview scscp scservp scte104 scte30
sctp-tunneling scup scup-disc scx-proxy sd sd-capacity sd-data sd-elmd sd-request sdbproxy sdclient
sddp sde-discovery sdfunc sdhelp sdl-ets sdmmp sdnskmp sdo sdo-ssh sdo-tls sdp-id-port
sdp-portmapper sdproxy sdr sds sds-admin sdsc-lm sdserver sdt sdt-lmd sdtvwcam seagull-ais
seagulllms seaodbc search search-agent seaview sec-ntb-clnt sec-pc2fax-srv sec-t4net-clt
sec-t4net-srv seclayer-tcp seclayer-tls secrmmsafecopya secure-cfg-svr secure-mqtt secure-ts
securitychase seispoc semantix semaphore semi-grpc send senip senomix01 senomix02 senomix03
senomix04 senomix05 senomix06 senomix07 senomix08 sent-lm sentinel sentinel-ent sentinel-lm
sentinelsrm sentlm-srv2srv sep seraph sercomm-scadmin sercomm-wlink serialgateway server-find
serverdocs servergraph serverstart serverview-as serverview-asn serverview-gf serverview-icc
serverview-rm serverviewdbms serverwsd2 servexec service-ctrl servicemeter servicetags servistaitsm
servserv servstat sesi-lm set sf-lm sflm sflow sfm-db-server sfmsso sfs-config sfs-smp-net
sftdst-port sftp sftsrv sftu sg-lm sgcip sgcp sge_execd sge_qmaster sgi-arrayd sgi-dmfmgr
sgi-esphttp sgi-eventmond sgi-lk sgi-soap sgi-storman sgmp sgmp-traps shadowserver shadowstream
shaperai shaperai-disc shareapp sharp-server shell shiprush-d-ch shiprush-db-svr shiva_confsrvr
shivadiscovery shivahose shivasound shockwave shockwave2 shofar showcockpit-net shrewd-control
shrewd-stream shrinkwrap sia-ctrl-plane siam sicct sicct-sdp siebel-ns siemensgsm sieve sift-uft
sightline sigma-port signacert-agent signal signet-ctf siipat silc silhouette silkmeter silkp1
silkp2 silkp3 silkp4 silverpeakcomm silverpeakpeer silverplatter sim-control simba-cs simbaexpress
simbaservices simco simctlp simon simon-disc simp-all simple-push simple-push-s simple-tx-rx
simplement-tie simplifymedia simslink sip sips sirius-agent sis-emt sitaradir sitaramgmt
sitaraserver sitewatch sitewatch-s six-degrees sixchat sixid sixnetudr sixtrak sixxsconfig
skip-cert-recv skip-cert-send skip-mc-gikreq skronk sky-transport skynetflow skytale skytelnet
slc-ctrlrloops slc-systemlog slim-devices slingshot slinkysearch slinterbase slm-api slp slp-notify
slscc slslavemon slush sm-disc sm-pas-1 sm-pas-2 sm-pas-3 sm-pas-4 sm-pas-5 sma-spw smaclmgr
smakynet smallchat smap smar-se-port1 smar-se-port2 smart-diagnose smart-install smart-lm
smartcard-port smartcard-tls smartpackets smartsdp smauth-port smbdirect smc-admin smc-http smc-jmx
smcluster smile smip smntubootstrap smpnameres smpp smpppd smpte sms-chat sms-rcinfo sms-remctrl
sms-xfer smsd smsp smsqp smtp smux smwan sna-cs snac snagas snap snapd snapenetio snapp snare
snaresecure sncp snif snifferclient snifferdata snifferserver snip-slave snmp snmp-tcp-port snmpdtls
snmpdtls-trap snmpssh snmpssh-trap snmptls snmptls-trap snmptrap snpp sns-admin sns-agent
sns-channels sns-dispatcher sns-gateway sns-protocol sns-query sns-quote snss sntlkeyssrvr
sntp-heartbeat soagateway soap-beep soap-http socalia social-alarm socks socorfs socp-c socp-t
softaudit softcm softdataphone softpc softrack-meter solaris-audit solera-epmap solera-lpn
solid-e-engine solid-mux solve sonar sonardata soniqsync sonus sonus-logging sonuscallsig sophia-lm
sops sor-update sos sossd-agent sossd-collect sossd-disc sossecollector soundsvirtual sovd spamtrap
spandataport spartan spc spcsdlobby spdm spdp spdy spearway spectardata spectardb spectraport
speedtrace speedtrace-disc spg sphinxapi sphinxql spice spike spiral-admin split-ping splitlock
splitlock-gw spmp spock spocp spramsca spramsd spremotetablet sps-tunnel spsc spss spss-lm
spt-automation sptx spugna spw-dialer spw-dnspreload spytechphone sqdr sql-net sqlexec sqlexec-ssl
sqlserv sqlsrv src srcp srdp srmp srp-feedback srssend sruth srvc_registry ss-idi ss-idi-disc ss7ns
ssad ssc-agent sscan ssdispatch ssdp ssdtp sse-app-config ssh ssh-mgmt sshell sslp ssm-cssps ssm-cvs
ssm-els ssmc ssmd ssmpp sso-control sso-service ssowatch ssp ssp-client ssports-bcast ssql
ssr-servermgr ssrip ssslic-mgr ssslog-mgr sst sstp-1 sstp-2 sstsys-lm stanag-5066 starbot
starfield-io starfish stargatealerts starquiz-port stars starschool start-network startron stat-cc
stat-results stat-scanner statsci1-lm statsci2-lm statsrv statusd stdptc ste-smsc stgxfws
sti-envision stm_pproc stmf stone-design-1 stonefalls storageos storman storview streamcomm-ds
street-stream streetperfect streettalk streletz stresstester strexec-d strexec-s stryker-com stss
stt sttunnel stun-behavior stun-behaviors stun-p1 stun-p2 stun-port stvp stx su-mit-tg sua
submission submissions submit submitserver subntbcst_tftp sugp suitcase suitjd sum sun-as-iiops
sun-as-iiops-ca sun-as-jmxrmi sun-as-jpda sun-as-nodeagt sun-dr sun-lm sun-mc-grp sun-sea-port
sun-sr-admin sun-sr-http sun-sr-https sun-sr-iiop sun-sr-iiop-aut sun-sr-iiops sun-sr-jms sun-sr-jmx
sun-user-https suncacao-csa suncacao-jmxmp suncacao-rmi suncacao-snmp suncacao-websvc sunclustergeo
sunclustermgr sunfm-port sunlps-http sunproxyadmin sunrpc sunscalar-dns sunscalar-svc SunVTS-RMI
sunwebadmin sunwebadmins supdup supercell supermon supportassist sur-meas surebox surf
surfcontrolcpa surveyinst suucp svbackup svcloud svdrp svdrp-disc svn svnet svnetworks svrloc
svs-omagent sw-orion swa-1 swa-2 swa-3 swa-4 swarm swdtp swdtp-sv sweetware-apps swift-rvf swiftnet
swismgr1 swismgr2 swispol swistrap swldy-sias swr-port swrmi swtp-port1 swtp-port2 swx-gate swxadmin
sxmp sxuptp syam-agent syam-smc syam-webserver sybase-sqlany sybaseanywhere sybasedbsynch
sybasesrvmon sychrond symantec-sfdb symantec-sim symb-sb-port symplex synapse synapse-nhttp
synapse-nhttps synapsis-edge sync-em7 synchromesh synchronet-db synchronet-rtc synchronet-upd
synchronite syncserver syncserverssl synctest synel-data synoptics-trap synotics-broker
synotics-relay sype-transport syscomlan syserverremote sysinfo-sp syslog syslog-conn syslog-tls
sysopt sysorb sysrqd sysscanner systat system-monitor systemics-sox t1-e1-over-ip t128-gateway
t1distproc t1distproc60 t2-brm t2-drm t5-straton tabula tacacs tacacs-ds tacacss tacnews
tacticalauth taep-as-svc tag-pm tag-ups-1 taiclock tal-pod talarian-mcast1 talarian-mcast2
talarian-mcast3 talarian-mcast4 talarian-mcast5 talarian-mqs talarian-tcp talarian-udp taligent-lm
talikaserver talk talnet talon-disc talon-engine talon-webserver tambora tams tapestry tapeware
tappi-boxnet tarantella tarantool targus-getdata targus-getdata1 targus-getdata2 targus-getdata3
tarp taserver taskman-port taskmaster2000 tasp-net taurus-wh tbrpf tcc-http tcim-control
tclprodebugger tcoaddressbook tcoflashagent tcoregagent tcp-id-port tcpdataserver tcpmux
tcpnethaspsrv td-postman td-replica td-service tdaccess tdmoip tdp-suite teamcoherence tec5-sdctp
teedtap tekpls telaconsole telefinder telelpathattack telelpathstart teleniumdaemon telesis-licman
telindus tell tellumat-nms telnet telnetcpcd telnets telops-lmd tempest-port tempo tenfold tentacle
terabase teradataordbms teredo terminaldb tesla-sys-msg tetrinet texai texar tftp tftp-mcast tftps
tgcconnect tgp thermo-calc theta-lm thingkit thor-engine thrp thrtx tht-treasure tibet-server tibsd
ticf-1 ticf-2 tick-port tidp tiepie tiepie-disc tig tigv2 tile-ml timbuktu timbuktu-srv1
timbuktu-srv2 timbuktu-srv3 timbuktu-srv4 time timed timeflies timelot timestenbroker tinc
tinymessage tip-app-server tip2 tipc tivoconnect tivoli-npm tksocket tl-ipcproxy tl1 tl1-lv tl1-raw
tl1-raw-ssl tl1-ssh tl1-telnet tlisrv tmesis-upshot tmi tmo-icon-sync tmophl7mts tmosms0 tmosms1
tn-timing tn-tl-fd1 tn-tl-fd2 tn-tl-r1 tn-tl-r2 tn-tl-w1 tn-tl-w2 tnETOS tnmpv2 tnos-dp tnos-dps
tnos-sp tnp tnp-discover tnp1-port tns-adv tns-cml tns-server toad toad-bi-appsrvr tolfab tolteces
tomato-springs tonidods topflow topflow-ssl topovista-data topx touchnetplus tpcsrvr tpdu tpip tpmd
tqdata tr-rsrb-p1 tr-rsrb-p2 tr-rsrb-port traceroute track tragic traingpsdata tram transact
transmit-port trap trap-daemon trap-port trap-port-mom traversal travsoft-ipx-t trc-netpoll trdp-md
trdp-pd treehopper trendchip-dcp tributary trident-data trim trim-event trim-ice trinity-dist
trinket-agent triomotion trip tripe tripwire triquest-lm trisoap trispen-sra tritium-can trivnet1
trivnet2 trnsprntproxy troff trp truckstar truecm trueconf trusted-web trustestablish tsa tsaf tsb
tsb2 tscchat tsdos390 tsepisp tserver tsilb tsp tsrmagt tsspmap ttat3lb ttc ttc-etap ttc-etap-ds
ttc-etap-ns ttc-ssl ttcmremotectrl ttg-protocol ttl-publisher ttlpriceproxy ttnrepository ttntspauto
ttyinfo tunalyzer tunatic tungsten-http tungsten-https tunnel tunstall-lwp tunstall-pnc turbonote-1
turbonote-2 tvbus tvdumtray-port tve-announce tvnetworkvideo tvpm tw-auth-key twamp-control
twamp-test twcss twds twrpc twsdss u-dbap ua-secureagent uaac uacs uadtc uaiact uarps ub-dns-control
ubroker ubxd ucentric-ds ucontrol ucs-isc udp-sr-port udpradio udpstp udrawgraph udrive udt_os uec
uet ufastro-instr ufmp uis ulistproc ulp ulpnet ultimad ultrabac ultraseek-http ultrex uma umm-port
ums umsp unbind-cluster undo-lm unet unglue unicall unicontrol unidata-ldm unieng unified-bus unify
unify-adapter unify-debug unifyadmin unihub-server unikeypro unimobilectrl uniport unisql
unisql-java unisys-eportal unisys-lm unite univ-appserver universe_suite univision unix-status
unizensus unot uohost uorb updog upgrade upnotifyp upnotifyps ups ups-engine ups-onlinet
upsnotifyprot upstriggervsw urbisnet urld-port urm urp us-cli us-gv us-srv user-manager
usicontentpush utcd utime utmpcd utmpsd utsftp uucp uucp-path uucp-rlogin uuidgen v-one-spp v2g-secc
v5ua va-pacbase vacdsm-app vacdsm-sws vad valisys-lm vantronix-mgmt vaprtm varadero-0 varadero-1
varadero-2 vat vat-control vatata vatp vaultbase vce vchat vcmp vcnet-link-v10 vcom-tunnel vcrp
vcs-app vcscmd vdab vdmmesh vdmmesh-disc vdmplay vemmi ventoso venus venus-se veracity vergencecm
verismart veritas-tcp1 veritas-ucl veritas-udp1 veritas-vis1 veritas-vis2 veritas_pbx veroce
veronica versa-tek versatalk versiera vestasdlp vettcp vfbp vfbp-disc vfmobile vfo vhd vid
video-activmail videobeans videotex videte-cipc vidigo vids-avtp vieo-fe vinainstall vipera
vipera-ssl vipremoteagent virprot-lm virtual-places virtual-time virtualtape virtualuser visd
visinet-gui vision-mon vision-mon-disc vision_elmd vision_server visionpyramid visitview vista-4gl
vistium-share visweather vitalanalysis vite viziblebrowser vlsi-lm vmnet vmodem vmpwscs vmrdp vmsvc
vmsvc-2 vmware-fdm vnas vnetd vns-tp vnsstr vnwk-prapi vnyx vocaltec-admin vocaltec-gold
vocaltec-hos vocaltec-phone vocaltec-wconf vofr-gateway voispeed-port volley vop vopied voxelstorm
vp2p vpa vpa-disc vpac vpad vpjp vpm-udp vpnz vpp vpps-qua vpps-via vpsipport vpvc vpvd vqp vrace
vrcommerce vrmg-ip vroa vrpn vrt vrtl-vmf-ds vrtl-vmf-sa vrtp vrts-at-port vrts-auth-port
vrts-ipcserver vrts-registry vrts-tdd vrtstrapserver vrxpservman vs-server vsaiport vsamredirector
vsat-control vscp vseconnector vsi-omega vsiadmin vsinet vsixml vslmp vsnm-agent vspread vstat
vt-ssl vtp vtr-emulator vts-rpc vtsas vtu-comms vulture vvr-control vvr-data vx-auth-port
vxcrnbuport vxlan vxlan-gpe vytalvaultbrtp vytalvaultpipe vytalvaultvsmp waascluster wacp wafs
wag-service wago-io-system wago-service wanscaler wap-push wap-push-http wap-push-https
wap-pushsecure wap-vcal wap-vcal-s wap-vcard wap-vcard-s wap-wsp wap-wsp-s wap-wsp-wtp wap-wsp-wtp-s
warehouse warehouse-sss warmspotMgmt warmux warppipe watchdoc watchdoc-pod watchdog-nt watchme-7272
watcomdebug watershed-lm watilapp wbem-exp-https wbem-http wbem-https wbem-rmi wcbackup wcpp
wcr-remlib weandsf weave web2host webaccess webadmstart webdata webemshttp weblogin webmachine
webmail-2 webmethods-b2b webmin webobjects webphone webpush websm websnp websphere-snmp webster
webtie webyast wello westec-connect westell-stats wfc wfm wfremotertm wg-endpt-comms wg-netforce
wherehoo whisker who whoami whois++ whosells whosockami wibukey wiegand wifree wilkenlistener willy
wimaxasncp wimd wimsic windb winddlb winddx windlm windream winfs wininstall-ipc winjaserver winpcs
winpharaoh winpoplanmess winport winqedit winrm wins winshadow winshadow-hd wip-port wired witsnet
wizard wkars wkstn-mon wlanauth wlbs wlcp wmc-log-svc wmlserver wms-messenger wnn6 wnn6-ds workflow
workflowdir world-lm worldfusion1 worldfusion2 worldscores wpages wpgs wpl-analytics wpl-disc
writesrv wrs_registry wrspice ws-discovery wsdapi wsdapi-s wsdl-event wsicopy wsm-server
wsm-server-ssl wsman wsmans wsmlb wso2esb-console wspipe wssauthsvc wsscomfrmwk wsynch wta-wsp-s
wta-wsp-wtp-s wtmi-panel wusage wv-csp-sms wv-csp-sms-cir wv-csp-udp-cir wwiotalk www-dev www-http
www-ldap-gw wxbrief wysdma wysdmc x-bone-api x-bone-ctl x25-svc-port x2e-disc x500ms x510 x9-icue
xaapi xact-backup xadmin xahaud xandros-cms xap-ha xbox xcap-control xcap-portal xcompute xdas xdmcp
xds xdsxdm xdtp xecp-node xfer xfr xgrid xic xiip xingcsm xingmpeg xinuexpansion1 xinuexpansion2
xinuexpansion3 xinuexpansion4 xinupageserver xiostatus xk22 xkotodrcp xmapi xmcp xmlblaster
xmlink-connect XmlIpcRegSvc xmlrpc-beep xmltec-xmlmail xmms2 xmpcr-interface xmpp-bosh xmpp-client
xmpp-server xmpv7 xmquery xmsg xnds xnm-clear-text xnm-ssl xnmp xns-auth xns-ch xns-courier xns-mail
xns-time xo-wave xoms xoraya xpanel xpilot xpl xplat-replicate xpra xprint-server xprtld xqosd xribs
xrl xrpc-registry xrpl xs-openstorage xserveraid XSIP-network xsmsvc xss-port xss-srv-port xsync
xtgui xtlserv xtreamx xtrm xtrms xvttp xxnetserver xybrid-cloud xybrid-rt xycstatus xyplex-mux yawn
yo-main z-wave z-wave-s z-wave-tunnel z39.50 zabbix-agent zabbix-trapper zannet zarkov zen-pawn
zenginkyo-1 zenginkyo-2 zented zep zephyr-clt zephyr-hm zephyr-srv zicom zieto-sock zigbee-ip
zigbee-ips zion-lm zixi-transport zmp zoomcp zre-disc zsecure zserv zymed-zpp"
    local name="${word##*:}" i
    COMPREPLY=( $(compgen -W "${names}" -- "${name}") )
    # Bash replaces what follows the last word-break character: without ':' among them,
    # the whole word.
    if [[ "${COMP_WORDBREAKS}" != *:* ]]; then
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${word%"${name}"}${COMPREPLY[i]}"
        done
    fi
    return 0
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _portwho_target -o nosort -o bashdefault -o default portwho
else
    complete -F _portwho_target -o bashdefault -o default portwho
fi
